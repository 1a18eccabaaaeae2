//! How the merge scales the denoised amplitudes in the merge band. Restore's supplement
//! (Palovcak et al. 2020, S2.4) keeps "the standard deviation of amplitudes" in the band equal;
//! that can be read as the spread of the magnitudes |F| about their mean ([`BandNorm::Std`],
//! the default) or as their root mean square, the band's RMS amplitude ([`BandNorm::Rms`],
//! i.e. matching the band's power). For complex Gaussian spectra |F| is Rayleigh distributed
//! and std|F| = √(1 − π/4) · rms|F|, so the two give the same factor; they differ when the
//! amplitudes in the band are not Rayleigh (Thon rings, strong low-resolution structure, a
//! denoiser that flattens the amplitudes).

/// Which statistic of the band's Fourier amplitudes the merge equalises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BandNorm {
    /// k = std(|R|) / std(|D|): the spread of the magnitudes about their mean.
    #[default]
    Std,
    /// k = rms(|R|) / rms(|D|): the root mean square amplitude (the band's power).
    Rms,
}

impl BandNorm {
    /// Parses "std" or "rms".
    ///
    /// # Errors
    /// Any other word (the message lists the two).
    pub fn parse(word: &str) -> Result<Self, String> {
        match word {
            "std" => Ok(BandNorm::Std),
            "rms" => Ok(BandNorm::Rms),
            other => Err(format!(
                "band normalisation '{other}' is unknown (use std or rms)"
            )),
        }
    }

    /// "std" or "rms".
    pub fn name(self) -> &'static str {
        match self {
            BandNorm::Std => "std",
            BandNorm::Rms => "rms",
        }
    }
}

/// Statistics of |F| over the Fourier components strictly inside the merge band.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BandStats {
    /// Standard deviation of |F| (full-plane weighting).
    pub std: f64,
    /// Root mean square of |F|.
    pub rms: f64,
    /// Fourier components (full plane) inside the band.
    pub components: usize,
}

impl BandStats {
    /// The statistic `norm` equalises.
    pub fn of(&self, norm: BandNorm) -> f64 {
        match norm {
            BandNorm::Std => self.std,
            BandNorm::Rms => self.rms,
        }
    }
}
