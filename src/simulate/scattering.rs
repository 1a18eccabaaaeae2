//! Electron scattering factors and the physical constants of imaging: Peng et al. (1996)
//! five-Gaussian fits of the elastic electron scattering factors, the potential constant
//! h²/(2π m₀ e), and the relativistic interaction constant σ(V).
//!
//! # Units and formulas
//! - Scattering factor (Peng, Ren, Dudarev & Whelan 1996, Acta Cryst. A52, 257–276, Table 1,
//!   the fit for 0 ≤ s ≤ 2 Å⁻¹): f(s) = Σᵢ aᵢ exp(−bᵢ s²) Å, with s = sin θ / λ = q / 2 and q
//!   the spatial frequency in Å⁻¹; aᵢ in Å, bᵢ in Å².
//! - First Born approximation: the potential is V(r) = (h²/(2π m₀ e)) ∫ f(q) e^{2πi q·r} d³q,
//!   so an atom (B-factor B, bᵢ → bᵢ + B) projected along z gives
//!   V_z(ρ) = (h²/(2π m₀ e)) Σᵢ aᵢ (4π/bᵢ) exp(−4π² ρ² / bᵢ) V·Å: each term a 2D Gaussian of
//!   variance bᵢ/(8π²) Å² per axis and integral (h²/(2π m₀ e)) aᵢ V·Å³.
//! - Interaction constant (e.g. Kirkland, *Advanced Computing in Electron Microscopy*, eq.
//!   5.6): σ = (2π / (λ V)) · (m₀c² + eV) / (2 m₀c² + eV) rad/(V·Å), λ the relativistic
//!   wavelength ([`crate::ctf::electron_wavelength_angstrom`]); 6.526·10⁻⁴ at 300 kV.

/// h²/(2π m₀ e) in V·Å² (CODATA 2018 constants): turns a scattering factor (Å) into a
/// potential (V·Å³ per Å of f).
pub const POTENTIAL_PER_SCATTERING_FACTOR: f64 = 47.877_1;

/// Electron rest energy m₀c², eV.
pub const ELECTRON_REST_ENERGY_EV: f64 = 510_998.95;

/// Heaviest element in [`PENG_1996`] (xenon); heavier atoms use its factors (with a warning).
pub const MAX_TABULATED_Z: u8 = 54;

/// Element symbols, Z = 1..=54 (index Z − 1).
const SYMBOLS: [&str; 54] = [
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
    "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As",
    "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In",
    "Sn", "Sb", "Te", "I", "Xe",
];

/// Atomic numbers of the elements after xenon that atomic models commonly carry (heavy-atom
/// labels, metals), so they are recognised and mapped to xenon with a warning.
const HEAVY: [(&str, u8); 12] = [
    ("Cs", 55),
    ("Ba", 56),
    ("Gd", 64),
    ("Yb", 70),
    ("W", 74),
    ("Re", 75),
    ("Os", 76),
    ("Ir", 77),
    ("Pt", 78),
    ("Au", 79),
    ("Hg", 80),
    ("U", 92),
];

/// Peng et al. (1996) Table 1, elastic electron scattering factors fitted for 0 ≤ s ≤ 2 Å⁻¹:
/// row Z − 1 holds a₁…a₅ (Å) then b₁…b₅ (Å²).
pub const PENG_1996: [[f64; 10]; 54] = [
    [
        0.0349, 0.1201, 0.1970, 0.0573, 0.1195, 0.5347, 3.5867, 12.3471, 18.9525, 38.6269,
    ],
    [
        0.0317, 0.0838, 0.1526, 0.1334, 0.0164, 0.2507, 1.4751, 4.4938, 12.6646, 31.1653,
    ],
    [
        0.0750, 0.2249, 0.5548, 1.4954, 0.9354, 0.3864, 2.9383, 15.3829, 53.5545, 138.7337,
    ],
    [
        0.0780, 0.2210, 0.6740, 1.3867, 0.6925, 0.3131, 2.2381, 10.1517, 30.9061, 78.3273,
    ],
    [
        0.0909, 0.2551, 0.7738, 1.2136, 0.4606, 0.2995, 2.1155, 8.3816, 24.1292, 63.1314,
    ],
    [
        0.0893, 0.2563, 0.7570, 1.0487, 0.3575, 0.2465, 1.7100, 6.4094, 18.6113, 50.2523,
    ],
    [
        0.1022, 0.3219, 0.7982, 0.8197, 0.1715, 0.2451, 1.7481, 6.1925, 17.3894, 48.1431,
    ],
    [
        0.0974, 0.2921, 0.6910, 0.6990, 0.2039, 0.2067, 1.3815, 4.6943, 12.7105, 32.4726,
    ],
    [
        0.1083, 0.3175, 0.6487, 0.5846, 0.1421, 0.2057, 1.3439, 4.2788, 11.3932, 28.7881,
    ],
    [
        0.1269, 0.3535, 0.5582, 0.4674, 0.1460, 0.2200, 1.3779, 4.0203, 9.4934, 23.1278,
    ],
    [
        0.2142, 0.6853, 0.7692, 1.6589, 1.4482, 0.3334, 2.3446, 10.0830, 48.3037, 138.2700,
    ],
    [
        0.2314, 0.6866, 0.9677, 2.1882, 1.1339, 0.3278, 2.2720, 10.9241, 39.2898, 101.9748,
    ],
    [
        0.2390, 0.6573, 1.2011, 2.5586, 1.2312, 0.3138, 2.1063, 10.4163, 34.4552, 98.5344,
    ],
    [
        0.2519, 0.6372, 1.3795, 2.5082, 1.0500, 0.3075, 2.0174, 9.6746, 29.3744, 80.4732,
    ],
    [
        0.2548, 0.6106, 1.4541, 2.3204, 0.8477, 0.2908, 1.8740, 8.5176, 24.3434, 63.2996,
    ],
    [
        0.2497, 0.5628, 1.3899, 2.1865, 0.7715, 0.2681, 1.6711, 7.0267, 19.5377, 50.3888,
    ],
    [
        0.2443, 0.5397, 1.3919, 2.0197, 0.6621, 0.2468, 1.5242, 6.1537, 16.6687, 42.3086,
    ],
    [
        0.2385, 0.5017, 1.3428, 1.8899, 0.6079, 0.2289, 1.3694, 5.2561, 14.0928, 35.5361,
    ],
    [
        0.4115, -1.4031, 2.2784, 2.6742, 2.2162, 0.3703, 3.3874, 13.1029, 68.9592, 194.4329,
    ],
    [
        0.4054, 1.3880, 2.1602, 3.7532, 2.2063, 0.3499, 3.0991, 11.9608, 53.9353, 142.3892,
    ],
    [
        0.3787, 1.2181, 2.0594, 3.2618, 2.3870, 0.3133, 2.5856, 9.5813, 41.7688, 116.7282,
    ],
    [
        0.3825, 1.2598, 2.0008, 3.0617, 2.0694, 0.3040, 2.4863, 9.2783, 39.0751, 109.4583,
    ],
    [
        0.3876, 1.2750, 1.9109, 2.8314, 1.8979, 0.2967, 2.3780, 8.7981, 35.9528, 101.7201,
    ],
    [
        0.4046, 1.3696, 1.8941, 2.0800, 1.2196, 0.2986, 2.3958, 9.1406, 37.4701, 113.7121,
    ],
    [
        0.3796, 1.2094, 1.7815, 2.5420, 1.5937, 0.2699, 2.0455, 7.4726, 31.0604, 91.5622,
    ],
    [
        0.3946, 1.2725, 1.7031, 2.3140, 1.4795, 0.2717, 2.0443, 7.6007, 29.9714, 86.2265,
    ],
    [
        0.4118, 1.3161, 1.6493, 2.1930, 1.2830, 0.2742, 2.0372, 7.7205, 29.9680, 84.9383,
    ],
    [
        0.3860, 1.1765, 1.5451, 2.0730, 1.3814, 0.2478, 1.7660, 6.3107, 25.2204, 74.3146,
    ],
    [
        0.4314, 1.3208, 1.5236, 1.4671, 0.8562, 0.2694, 1.9223, 7.3474, 28.9892, 90.6246,
    ],
    [
        0.4288, 1.2646, 1.4472, 1.8294, 1.0934, 0.2593, 1.7998, 6.7500, 25.5860, 73.5284,
    ],
    [
        0.4818, 1.4032, 1.6561, 2.4605, 1.1054, 0.2825, 1.9785, 8.7546, 32.5238, 98.5523,
    ],
    [
        0.4655, 1.3014, 1.6088, 2.6998, 1.3003, 0.2647, 1.7926, 7.6071, 26.5541, 77.5238,
    ],
    [
        0.4517, 1.2229, 1.5852, 2.7958, 1.2638, 0.2493, 1.6436, 6.8154, 22.3681, 62.0390,
    ],
    [
        0.4477, 1.1678, 1.5843, 2.8087, 1.1956, 0.2405, 1.5442, 6.3231, 19.4610, 52.0233,
    ],
    [
        0.4798, 1.1948, 1.8695, 2.6953, 0.8203, 0.2504, 1.5963, 6.9653, 19.8492, 50.3233,
    ],
    [
        0.4546, 1.0993, 1.7696, 2.7068, 0.8672, 0.2309, 1.4279, 5.9449, 16.6752, 42.2243,
    ],
    [
        1.0160, 2.8528, 3.5466, -7.7804, 12.1148, 0.4853, 5.0925, 25.7851, 130.4515, 138.6775,
    ],
    [
        0.6703, 1.4926, 3.3368, 4.4600, 3.1501, 0.3190, 2.2287, 10.3504, 52.3291, 151.2216,
    ],
    [
        0.6894, 1.5474, 3.2450, 4.2126, 2.9764, 0.3189, 2.2904, 10.0062, 44.0771, 125.0120,
    ],
    [
        0.6719, 1.4684, 3.1668, 3.9557, 2.8920, 0.3036, 2.1249, 8.9236, 36.8458, 108.2049,
    ],
    [
        0.6123, 1.2677, 3.0348, 3.3841, 2.3683, 0.2709, 1.7683, 7.2489, 27.9465, 98.5624,
    ],
    [
        0.6773, 1.4798, 3.1788, 3.0824, 1.8384, 0.2920, 2.0606, 8.1129, 30.5336, 100.0658,
    ],
    [
        0.7082, 1.6392, 3.1993, 3.4327, 1.8711, 0.2976, 2.2106, 8.5246, 33.1456, 96.6377,
    ],
    [
        0.6735, 1.4934, 3.0966, 2.7254, 1.5597, 0.2773, 1.9716, 7.3249, 26.6891, 90.5581,
    ],
    [
        0.6413, 1.3690, 2.9854, 2.6952, 1.5433, 0.2580, 1.7721, 6.3854, 23.2549, 85.1517,
    ],
    [
        0.5904, 1.1775, 2.6519, 2.2875, 0.8689, 0.2324, 1.5019, 5.1591, 15.5428, 46.8213,
    ],
    [
        0.6377, 1.3790, 2.8294, 2.3631, 1.4553, 0.2466, 1.6974, 5.7656, 20.0943, 76.7372,
    ],
    [
        0.6364, 1.4247, 2.7802, 2.5973, 1.7886, 0.2407, 1.6823, 5.6588, 20.7219, 69.1109,
    ],
    [
        0.6768, 1.6589, 2.7740, 3.1835, 2.1326, 0.2522, 1.8545, 6.2936, 25.1457, 84.5448,
    ],
    [
        0.7224, 1.9610, 2.7161, 3.5603, 1.8972, 0.2651, 2.0604, 7.3011, 27.5493, 81.3349,
    ],
    [
        0.7106, 1.9247, 2.6149, 3.8322, 1.8899, 0.2562, 1.9646, 6.8852, 24.7648, 68.9168,
    ],
    [
        0.6947, 1.8690, 2.5356, 4.0013, 1.8955, 0.2459, 1.8542, 6.4411, 22.1730, 59.2206,
    ],
    [
        0.7047, 1.9484, 2.5940, 4.1526, 1.5057, 0.2455, 1.8638, 6.7639, 21.8007, 56.4395,
    ],
    [
        0.6737, 1.7908, 2.4129, 4.2100, 1.7058, 0.2305, 1.6890, 5.8218, 18.3928, 47.2496,
    ],
];

/// The five Gaussians of one element's scattering factor: `a` in Å, `b` in Å².
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScatteringFactor {
    /// Amplitudes aᵢ, Å.
    pub a: [f64; 5],
    /// Widths bᵢ, Å².
    pub b: [f64; 5],
}

impl ScatteringFactor {
    /// Peng et al. (1996)'s factor of element `z` (1 ≤ z ≤ [`MAX_TABULATED_Z`]); `None`
    /// outside the table.
    pub fn of(z: u8) -> Option<Self> {
        let row = PENG_1996.get(usize::from(z).checked_sub(1)?)?;
        let mut a = [0.0; 5];
        let mut b = [0.0; 5];
        a.copy_from_slice(&row[..5]);
        b.copy_from_slice(&row[5..]);
        Some(Self { a, b })
    }

    /// f at spatial frequency q (Å⁻¹): Σ aᵢ exp(−bᵢ q²/4), in Å (s = q/2).
    pub fn at(&self, q: f64) -> f64 {
        self.a
            .iter()
            .zip(&self.b)
            .map(|(a, b)| a * (-b * q * q / 4.0).exp())
            .sum()
    }
}

/// The atomic number of an element symbol (any case, surrounding spaces ignored), for
/// Z ≤ [`MAX_TABULATED_Z`] and the heavier elements models commonly carry; `None` if unknown.
pub fn atomic_number(symbol: &str) -> Option<u8> {
    let s = symbol.trim();
    let known = |name: &&str| name.eq_ignore_ascii_case(s);
    if let Some(i) = SYMBOLS.iter().position(&known) {
        return u8::try_from(i + 1).ok();
    }
    HEAVY.iter().find(|(n, _)| known(n)).map(|&(_, z)| z)
}

/// The symbol of element `z` for messages (`Z<z>` beyond the table).
pub fn symbol(z: u8) -> String {
    usize::from(z)
        .checked_sub(1)
        .and_then(|i| SYMBOLS.get(i))
        .map_or_else(
            || {
                HEAVY
                    .iter()
                    .find(|&&(_, hz)| hz == z)
                    .map_or_else(|| format!("Z{z}"), |(n, _)| (*n).to_string())
            },
            |s| (*s).to_string(),
        )
}

/// Relativistic interaction constant σ in rad/(V·Å) for an acceleration voltage in kV
/// (see the module documentation): the phase shift per unit projected potential.
pub fn interaction_constant(voltage_kv: f64) -> f64 {
    let ev = voltage_kv * 1e3;
    let lambda = crate::ctf::electron_wavelength_angstrom(voltage_kv);
    2.0 * std::f64::consts::PI / (lambda * ev) * (ELECTRON_REST_ENERGY_EV + ev)
        / (2.0 * ELECTRON_REST_ENERGY_EV + ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_scattering_matches_the_known_values() {
        // f(0) = Σ aᵢ: carbon ≈ 2.51 Å, oxygen ≈ 1.98 Å, hydrogen ≈ 0.53 Å (Peng 1996).
        let f0 = |z| ScatteringFactor::of(z).unwrap().at(0.0);
        assert!((f0(6) - 2.5088).abs() < 1e-4);
        assert!((f0(8) - 1.9834).abs() < 1e-4);
        assert!((f0(1) - 0.5288).abs() < 1e-4);
        // f falls with frequency.
        let c = ScatteringFactor::of(6).unwrap();
        assert!(c.at(0.5) < c.at(0.1) && c.at(0.1) < c.at(0.0));
    }

    #[test]
    fn interaction_constant_at_300_kv() {
        // 6.526·10⁻⁴ rad/(V·Å) at 300 kV, 7.29·10⁻⁴ at 200 kV (Kirkland's table).
        assert!((interaction_constant(300.0) - 6.526e-4).abs() < 2e-6);
        assert!((interaction_constant(200.0) - 7.29e-4).abs() < 3e-6);
    }

    #[test]
    fn symbols_round_trip() {
        assert_eq!(atomic_number("C"), Some(6));
        assert_eq!(atomic_number(" zn "), Some(30));
        assert_eq!(atomic_number("MG"), Some(12));
        assert_eq!(atomic_number("Au"), Some(79));
        assert_eq!(atomic_number("Xx"), None);
        assert_eq!(symbol(30), "Zn");
        assert_eq!(symbol(79), "Au");
    }
}
