//! The gallery's plots of the whole data set: a metric against acquisition order (as
//! cryoSPARC Live plots it; a click selects the nearest micrograph), histograms of the SNR
//! before and after denoising and of the SNBR (restore, Palovcak et al. 2020 Fig. 3a), and
//! the per-ring signal, bias and noise power averaged over the micrographs, one standard
//! deviation shaded (their Fig. 3b).

use eframe::egui;
use egui::Color32;
use egui_plot::{
    AxisHints, Bar, BarChart, FilledArea, Legend, Line, Plot, PlotPoints, Points, VLine,
};

use crate::gui::state::gallery::Gallery;
use crate::screen::curate::metric;
use crate::screen::curves::{DatasetCurves, MeanSd};

/// Which plot the gallery shows above the grid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GalleryPlot {
    /// The sort metric against acquisition order.
    #[default]
    Order,
    /// SNR raw / denoised and SNBR histograms (Fig. 3a).
    Histograms,
    /// Mean ± SD per-ring power (Fig. 3b).
    Rings,
    /// No plot (more room for thumbnails).
    Hidden,
}

impl GalleryPlot {
    /// Every plot, in the order of the selector.
    pub const ALL: [GalleryPlot; 4] = [
        GalleryPlot::Order,
        GalleryPlot::Histograms,
        GalleryPlot::Rings,
        GalleryPlot::Hidden,
    ];

    /// The selector's label.
    pub fn label(self) -> &'static str {
        match self {
            GalleryPlot::Order => "by acquisition",
            GalleryPlot::Histograms => "histograms",
            GalleryPlot::Rings => "per ring",
            GalleryPlot::Hidden => "no plot",
        }
    }
}

/// Height of a plot, points.
const HEIGHT: f32 = 150.0;

/// The three histogram series of Fig. 3a: column, legend and colour.
const SNR_SERIES: [(&str, &str, Color32); 3] = [
    (
        "snr_raw_db",
        "SNR raw (eq. 19)",
        Color32::from_rgb(80, 150, 255),
    ),
    (
        "restore_snr_denoised_db",
        "SNR denoised (eq. 20)",
        Color32::from_rgb(255, 160, 50),
    ),
    ("snbr_db", "SNBR denoised", Color32::from_rgb(90, 200, 100)),
];

/// The sort metric (SNR of the raw halves when unsorted) of every micrograph against its
/// place in the table, the selected one marked; returns the table index of a clicked point.
pub fn order_plot(ui: &mut egui::Ui, g: &Gallery) -> Option<usize> {
    let name = g.sort.unwrap_or("snr_raw_db");
    let points: Vec<[f64; 2]> = g
        .rows()
        .iter()
        .enumerate()
        .filter_map(|(i, r)| metric(r, name).map(|v| [i as f64, v]))
        .collect();
    if points.is_empty() {
        ui.label(format!("No micrograph has {name} yet."));
        return None;
    }
    let selected = g.index_at(g.selected()).map(|i| i as f64);
    let shown = points.clone();
    let response = Plot::new("gallery metric")
        .height(HEIGHT)
        .allow_scroll(false)
        .allow_drag(false)
        .allow_zoom(false)
        .x_axis_label("micrograph (acquisition order)")
        .y_axis_label(name)
        .include_x(0.0)
        .include_x(g.rows().len().saturating_sub(1) as f64)
        .show(ui, |pui| {
            pui.points(Points::new(name, PlotPoints::from(shown)).radius(2.5));
            if let Some(x) = selected {
                pui.vline(VLine::new("selected", x));
            }
            if pui.response().clicked() {
                pui.pointer_coordinate()
                    .map(|c| (c, pui.transform().dpos_dvalue()))
            } else {
                None
            }
        });
    let (at, scale) = response.inner?;
    nearest(&points, [at.x, at.y], [scale[0].abs(), scale[1].abs()])
}

/// The table index of the point of `points` ([index, value]) nearest to `at` on screen
/// (`scale`: screen points per unit on each axis), within 12 points.
fn nearest(points: &[[f64; 2]], at: [f64; 2], scale: [f64; 2]) -> Option<usize> {
    let distance = |p: &[f64; 2]| {
        let dx = (p[0] - at[0]) * scale[0];
        let dy = (p[1] - at[1]) * scale[1];
        (dx * dx + dy * dy).sqrt()
    };
    points
        .iter()
        .min_by(|a, b| distance(a).total_cmp(&distance(b)))
        .filter(|p| distance(p) <= 12.0)
        .map(|p| p[0] as usize)
}

/// Histograms of the SNR of the raw halves, restore's SNR of the denoised halves and the
/// SNBR across micrographs, in dB (the paper's logarithmic x axis), with their means.
pub fn histograms(ui: &mut egui::Ui, g: &Gallery) {
    let series: Vec<(&str, Color32, Vec<f64>)> = SNR_SERIES
        .iter()
        .map(|&(column, label, colour)| {
            let values = g.rows().iter().filter_map(|r| metric(r, column)).collect();
            (label, colour, values)
        })
        .filter(|(_, _, v): &(_, _, Vec<f64>)| !v.is_empty())
        .collect();
    let all: Vec<f64> = series.iter().flat_map(|s| s.2.iter().copied()).collect();
    let Some(bins) = Bins::covering(&all, 30) else {
        ui.label("No SNR measured yet (no even/odd halves or count splitting).");
        return;
    };
    Plot::new("gallery histograms")
        .height(HEIGHT)
        .legend(Legend::default())
        .allow_scroll(false)
        .x_axis_label("dB (10 log10 of the ratio)")
        .y_axis_label("micrographs")
        .show(ui, |pui| {
            for (label, colour, values) in series {
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                let bars = bins
                    .counts(&values)
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| Bar::new(bins.centre(i), n as f64).width(bins.width))
                    .collect();
                let name = format!("{label}: mean {mean:.1} dB");
                pui.bar_chart(BarChart::new(name.clone(), bars).color(colour.gamma_multiply(0.55)));
                pui.vline(VLine::new(name, mean).color(colour));
            }
        });
}

/// Equal-width bins over a range of values.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bins {
    start: f64,
    width: f64,
    n: usize,
}

impl Bins {
    /// `n` bins from the smallest to the largest of `values` (a unit-wide range around a
    /// single value); `None` for no finite values.
    fn covering(values: &[f64], n: usize) -> Option<Self> {
        let finite = values.iter().filter(|v| v.is_finite());
        let lo = finite.clone().copied().reduce(f64::min)?;
        let hi = finite.copied().reduce(f64::max)?;
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        };
        Some(Self {
            start: lo,
            width: (hi - lo) / n as f64,
            n,
        })
    }

    /// Centre of bin `i`.
    fn centre(&self, i: usize) -> f64 {
        self.start + (i as f64 + 0.5) * self.width
    }

    /// How many of `values` fall in each bin (the largest value in the last).
    fn counts(&self, values: &[f64]) -> Vec<usize> {
        let mut counts = vec![0; self.n];
        for v in values.iter().filter(|v| v.is_finite()) {
            let i = ((v - self.start) / self.width).floor().max(0.0) as usize;
            counts[i.min(self.n - 1)] += 1;
        }
        counts
    }
}

/// Mean ± SD over the micrographs of the per-ring signal, bias and noise power (before and
/// after denoising), on a log10 y axis as in the paper (the axis shows log10 of the power); a message while they are read or when no
/// micrograph has curves.
pub fn rings(ui: &mut egui::Ui, curves: Option<&DatasetCurves>, reading: bool) {
    let Some(c) = curves.filter(|c| c.micrographs > 0) else {
        ui.label(if reading {
            "Reading the per-ring curves…"
        } else {
            "No per-ring curves (screened without the denoised SNR, or no halves)."
        });
        return;
    };
    let unit = if c.per_angstrom { "1/Å" } else { "1/px" };
    let quantities: [(&str, &[MeanSd], Color32); 4] = [
        ("signal", &c.signal, Color32::from_rgb(80, 150, 255)),
        ("bias", &c.bias, Color32::from_rgb(255, 160, 50)),
        ("noise raw", &c.noise_raw, Color32::from_rgb(180, 110, 230)),
        (
            "noise denoised",
            &c.noise_denoised,
            Color32::from_rgb(90, 200, 100),
        ),
    ];
    Plot::new("gallery rings")
        .height(HEIGHT)
        .legend(Legend::default())
        .allow_scroll(false)
        .x_axis_label(format!(
            "spatial frequency ({unit}); mean ± SD of {} micrographs",
            c.micrographs
        ))
        // Decades are ≈ 25 points apart on a plot this short: label them anyway.
        .custom_y_axes(vec![
            AxisHints::new_y()
                .label("log10 power")
                .label_spacing(12.0..=18.0),
        ])
        .show(ui, |pui| {
            for (name, values, colour) in quantities {
                let band = log_band(&c.frequency, values);
                if !band.0.is_empty() {
                    pui.add(
                        FilledArea::new(name, &band.0, &band.1, &band.2)
                            .fill_color(colour.gamma_multiply(0.25)),
                    );
                }
                let line: Vec<[f64; 2]> = c
                    .frequency
                    .iter()
                    .zip(values)
                    .filter(|(_, m)| m.mean > 0.0 && m.mean.is_finite())
                    .map(|(&f, m)| [f, m.mean.log10()])
                    .collect();
                pui.line(Line::new(name, PlotPoints::from(line)).color(colour));
            }
        });
}

/// The ±SD band of `values` on a log10 axis: (x, lower, upper) where the mean is positive;
/// a lower edge at or below zero is drawn at a hundredth of the mean.
fn log_band(frequency: &[f64], values: &[MeanSd]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut band = (Vec::new(), Vec::new(), Vec::new());
    for (&f, m) in frequency.iter().zip(values) {
        if !(m.mean > 0.0 && m.mean.is_finite() && m.sd.is_finite()) {
            continue;
        }
        let low = (m.mean - m.sd).max(m.mean / 100.0);
        band.0.push(f);
        band.1.push(low.log10());
        band.2.push((m.mean + m.sd).log10());
    }
    band
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_the_values_and_count_each_once() {
        let values = [-20.0, -15.0, -15.0, -10.0, 0.0];
        let b = Bins::covering(&values, 4).unwrap();
        assert_eq!(b.counts(&values), vec![1, 2, 1, 1]);
        assert!((b.centre(0) - (-17.5)).abs() < 1e-12);
        let one = Bins::covering(&[3.0, 3.0], 2).unwrap();
        assert_eq!(one.counts(&[3.0, 3.0]), vec![0, 2]);
        assert!(Bins::covering(&[f64::NAN], 3).is_none());
    }

    #[test]
    fn a_click_picks_the_nearest_point_on_screen() {
        // y spans 10 units over the plot, x 100: on screen they weigh differently.
        let points = [[0.0, 0.0], [1.0, 5.0], [2.0, 0.5]];
        assert_eq!(nearest(&points, [1.1, 4.8], [10.0, 10.0]), Some(1));
        assert_eq!(nearest(&points, [1.9, 0.6], [10.0, 10.0]), Some(2));
        assert_eq!(nearest(&points, [1.0, 2.5], [10.0, 10.0]), None);
    }

    #[test]
    fn the_band_stays_on_the_log_axis() {
        let m = [
            MeanSd {
                mean: 10.0,
                sd: 5.0,
            },
            MeanSd { mean: 1.0, sd: 3.0 },
            MeanSd {
                mean: -1.0,
                sd: 1.0,
            },
        ];
        let (x, lo, hi) = log_band(&[0.1, 0.2, 0.3], &m);
        assert_eq!(x, vec![0.1, 0.2]);
        assert!((lo[0] - 5f64.log10()).abs() < 1e-12 && (hi[0] - 15f64.log10()).abs() < 1e-12);
        assert!((lo[1] - (-2.0)).abs() < 1e-12);
    }
}
