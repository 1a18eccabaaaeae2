//! Per-ring signal, bias and noise power of each screened micrograph (Palovcak et al. 2020,
//! supplement eq. 24, as [`crate::metrics::variance_estimate_rings`] computes them), one small
//! CSV per micrograph under `curves/`, and their mean ± SD across a dataset: restore's
//! Fig. 3b, which plots these four powers averaged over every micrograph of a data set with
//! one standard deviation shaded.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::metrics::{FrequencyUnit, RingCurve, VarianceEstimate};

/// Ring width of the screening curves, Fourier pixels: 4 gives 32 rings up to Nyquist on the
/// 256² SNR region ([`super::SNR_REGION`]), each averaging enough components to be read.
pub const RING_WIDTH: f32 = 4.0;

/// The quantities of one ring, as the CSV stores them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RingPowers {
    /// Ring centre frequency, Å⁻¹ (cycles/px when the pixel size is unknown).
    pub frequency: f64,
    /// var(S) per ring (eq. 15 with eq. 24 covariances), squared image units.
    pub signal: f64,
    /// var(B) per ring (eq. 18 as [`crate::metrics::variance_estimate`] corrects it).
    pub bias: f64,
    /// var(Nn): noise of a raw half (eq. 16).
    pub noise_raw: f64,
    /// var(Nd): noise left in a denoised half (eq. 17).
    pub noise_denoised: f64,
}

/// One micrograph's curve: its rings and the unit of their frequencies.
#[derive(Clone, Debug, PartialEq)]
pub struct RingTable {
    /// Å⁻¹ when true, cycles/px otherwise.
    pub per_angstrom: bool,
    /// The rings, in increasing frequency.
    pub rings: Vec<RingPowers>,
}

impl RingTable {
    /// The four powers of each ring of `curve`.
    pub fn from_curve(curve: &RingCurve<VarianceEstimate>) -> Self {
        Self {
            per_angstrom: curve.unit == FrequencyUnit::PerAngstrom,
            rings: curve
                .rings
                .iter()
                .map(|r| RingPowers {
                    frequency: r.frequency,
                    signal: r.value.signal,
                    bias: r.value.bias,
                    noise_raw: r.value.noise_noisy,
                    noise_denoised: r.value.noise_denoised,
                })
                .collect(),
        }
    }

    /// The table as CSV: a header naming the frequency unit
    /// (`frequency_per_angstrom` or `frequency_per_pixel`), then one line per ring.
    pub fn to_csv(&self) -> String {
        let unit = if self.per_angstrom {
            "frequency_per_angstrom"
        } else {
            "frequency_per_pixel"
        };
        let mut s = format!("{unit},signal,bias,noise_raw,noise_denoised\n");
        for r in &self.rings {
            s += &format!(
                "{:.6},{:.6e},{:.6e},{:.6e},{:.6e}\n",
                r.frequency, r.signal, r.bias, r.noise_raw, r.noise_denoised
            );
        }
        s
    }

    /// Parses [`Self::to_csv`]'s format.
    ///
    /// # Errors
    /// An unknown header, a line without five numbers (named by line number).
    pub fn parse(text: &str) -> Result<Self> {
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let per_angstrom = match header.split(',').next() {
            Some("frequency_per_angstrom") => true,
            Some("frequency_per_pixel") => false,
            _ => bail!("not a ring-curve table (header `{header}`)"),
        };
        let mut rings = Vec::new();
        for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let v: Vec<f64> = line
                .split(',')
                .map(|c| c.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .ok()
                .filter(|v: &Vec<f64>| v.len() == 5)
                .with_context(|| format!("line {}: expected five numbers", i + 2))?;
            rings.push(RingPowers {
                frequency: v[0],
                signal: v[1],
                bias: v[2],
                noise_raw: v[3],
                noise_denoised: v[4],
            });
        }
        Ok(Self {
            per_angstrom,
            rings,
        })
    }

    /// Writes `curves/REL.csv` under `out` atomically and returns that path relative to
    /// `out`, `/`-separated.
    ///
    /// # Errors
    /// A folder or file that cannot be written.
    pub fn write(&self, out: &Path, rel: &str) -> Result<String> {
        let file = format!("curves/{rel}.csv");
        let target = out.join(&file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        crate::io::atomic::write_atomically(&target, self.to_csv().as_bytes())?;
        Ok(file)
    }

    /// Reads a table written by [`Self::write`].
    ///
    /// # Errors
    /// An unreadable file, or one not in the format (the path named).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the ring curves", path.display()))?;
        Self::parse(&text).with_context(|| format!("{}", path.display()))
    }
}

/// Mean and standard deviation of one quantity on one ring across micrographs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanSd {
    /// Mean over the micrographs.
    pub mean: f64,
    /// Sample standard deviation (n − 1; 0 for a single micrograph).
    pub sd: f64,
}

/// The dataset's curves (restore Fig. 3b): per ring of the common frequency grid, the mean ±
/// SD of each power across micrographs.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetCurves {
    /// Å⁻¹ when true, cycles/px otherwise.
    pub per_angstrom: bool,
    /// Micrographs averaged.
    pub micrographs: usize,
    /// Ring frequencies (of the first table).
    pub frequency: Vec<f64>,
    /// var(S) per ring.
    pub signal: Vec<MeanSd>,
    /// var(B) per ring.
    pub bias: Vec<MeanSd>,
    /// var(Nn) per ring.
    pub noise_raw: Vec<MeanSd>,
    /// var(Nd) per ring.
    pub noise_denoised: Vec<MeanSd>,
}

/// Averages `tables` on the rings of the first one: tables in the same unit are interpolated
/// linearly onto its frequencies (identical grids, the usual case of one data set binned to
/// one screening pixel size, are taken ring for ring); a table in another unit, and rings
/// outside a table's range, are left out. `None` for no tables.
pub fn mean_sd(tables: &[RingTable]) -> Option<DatasetCurves> {
    let first = tables.iter().find(|t| !t.rings.is_empty())?;
    let grid: Vec<f64> = first.rings.iter().map(|r| r.frequency).collect();
    let same_unit: Vec<&RingTable> = tables
        .iter()
        .filter(|t| t.per_angstrom == first.per_angstrom && !t.rings.is_empty())
        .collect();
    let quantity = |get: fn(&RingPowers) -> f64| -> Vec<MeanSd> {
        grid.iter()
            .map(|&f| {
                let values: Vec<f64> = same_unit
                    .iter()
                    .filter_map(|t| interpolate(&t.rings, f, get))
                    .collect();
                stats(&values)
            })
            .collect()
    };
    Some(DatasetCurves {
        per_angstrom: first.per_angstrom,
        micrographs: same_unit.len(),
        signal: quantity(|r| r.signal),
        bias: quantity(|r| r.bias),
        noise_raw: quantity(|r| r.noise_raw),
        noise_denoised: quantity(|r| r.noise_denoised),
        frequency: grid,
    })
}

/// `get` of `rings` at frequency `f`, linear between the two rings around it; `None` outside
/// the rings' range (a relative tolerance of 1e-6 at the ends).
fn interpolate(rings: &[RingPowers], f: f64, get: fn(&RingPowers) -> f64) -> Option<f64> {
    let tol = 1e-6 * f.abs().max(1e-12);
    let i = rings.partition_point(|r| r.frequency < f - tol);
    let r = rings.get(i)?;
    if (r.frequency - f).abs() <= tol {
        return Some(get(r));
    }
    let l = rings.get(i.checked_sub(1)?)?;
    let t = (f - l.frequency) / (r.frequency - l.frequency);
    Some(get(l) + t * (get(r) - get(l)))
}

/// Mean and sample SD of `values` (NaN mean for none).
fn stats(values: &[f64]) -> MeanSd {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    MeanSd { mean, sd }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(scale: f64, frequencies: &[f64]) -> RingTable {
        RingTable {
            per_angstrom: true,
            rings: frequencies
                .iter()
                .map(|&f| RingPowers {
                    frequency: f,
                    signal: scale * (1.0 - f),
                    bias: scale * f,
                    noise_raw: 10.0 * scale,
                    noise_denoised: 0.5 * scale,
                })
                .collect(),
        }
    }

    #[test]
    fn csv_round_trips_and_rejects_other_tables() {
        let t = table(2.0, &[0.01, 0.02, 0.03]);
        let dir = tempfile::tempdir().unwrap();
        let rel = t.write(dir.path(), "GridSquare_1/Data/m").unwrap();
        assert_eq!(rel, "curves/GridSquare_1/Data/m.csv");
        let back = RingTable::read(&dir.path().join(&rel)).unwrap();
        assert!(back.per_angstrom);
        assert_eq!(back.rings.len(), 3);
        for (a, b) in back.rings.iter().zip(&t.rings) {
            assert!((a.signal - b.signal).abs() < 1e-6 * b.signal.abs().max(1.0));
            assert!((a.frequency - b.frequency).abs() < 1e-9);
        }
        assert!(RingTable::parse("micrograph,snr\n1,2\n").is_err());
        let e = RingTable::parse("frequency_per_pixel,signal,bias,noise_raw,noise_denoised\n1,2\n")
            .unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn mean_and_sd_across_micrographs_on_one_grid() {
        let f = [0.1, 0.2, 0.3];
        // Scales 1 and 3: mean 2, sample SD √2 times the per-unit value.
        let d = mean_sd(&[table(1.0, &f), table(3.0, &f)]).unwrap();
        assert_eq!(d.micrographs, 2);
        assert_eq!(d.frequency, f.to_vec());
        assert!((d.noise_raw[1].mean - 20.0).abs() < 1e-12);
        assert!((d.noise_raw[1].sd - 10.0 * 2f64.sqrt()).abs() < 1e-9);
        assert!((d.signal[0].mean - 2.0 * 0.9).abs() < 1e-12);
        assert!((d.bias[2].sd - 0.3 * 2f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn other_grids_are_interpolated_and_other_units_left_out() {
        let a = table(1.0, &[0.1, 0.2, 0.3]);
        // Rings halfway between: its values are linear in f, so interpolation is exact.
        let b = table(1.0, &[0.05, 0.15, 0.25]);
        let mut c = table(100.0, &[0.1, 0.2, 0.3]);
        c.per_angstrom = false;
        let d = mean_sd(&[a, b, c]).unwrap();
        assert_eq!(d.micrographs, 2);
        assert!((d.signal[1].mean - 0.8).abs() < 1e-12);
        assert!(d.signal[1].sd < 1e-12);
        // 0.3 lies beyond b's last ring: only a counts there.
        assert!((d.bias[2].mean - 0.3).abs() < 1e-12);
        assert!(mean_sd(&[]).is_none());
    }
}
