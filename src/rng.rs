//! The project's one pseudo-random generator: [`Rng`], a self-contained xoshiro256**
//! seeded with SplitMix64, so synthetic data, count splitting, patch sampling and weight
//! initialisation are deterministic given a seed and do not change with dependency versions.

use std::f64::consts::PI;

/// Deterministic pseudo-random generator (xoshiro256** by Blackman & Vigna, state seeded
/// with SplitMix64), with the samplers the synthetic data and count splitting need.
///
/// Not cryptographic. The same seed gives the same sequence on every platform.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
    spare_normal: Option<f64>,
}

/// One SplitMix64 step: advances `state` and returns a well-mixed 64-bit value.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded with `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self {
            s,
            spare_normal: None,
        }
    }

    /// An independent generator for sub-stream `stream` of `seed` (e.g. one per image row, so
    /// parallel work is deterministic whatever the thread count).
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut sm = seed ^ 0xD1B5_4A32_D192_ED03;
        let a = splitmix64(&mut sm);
        let mut sm2 = a ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self::new(splitmix64(&mut sm2))
    }

    /// Next 64 uniformly distributed bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal N(0, 1) (Box–Muller; the second value of each pair is kept for the
    /// next call).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        // 1 − u is in (0, 1], so the logarithm is finite.
        let r = (-2.0 * (1.0 - self.uniform()).ln()).sqrt();
        let t = 2.0 * PI * self.uniform();
        self.spare_normal = Some(r * t.sin());
        r * t.cos()
    }

    /// Poisson(λ) sample. Exact (Knuth's multiplication method on chunks of λ ≤ 30, using
    /// that sums of independent Poisson variables are Poisson) for λ ≤ 10⁵, cost O(λ); for
    /// larger λ the normal approximation round(λ + √λ·z), clamped at 0. λ ≤ 0 or not finite
    /// gives 0.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if !(lambda.is_finite() && lambda > 0.0) {
            return 0;
        }
        if lambda > 1e5 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let mut remaining = lambda;
        let mut total = 0u64;
        while remaining > 0.0 {
            let chunk = remaining.min(30.0);
            remaining -= chunk;
            let limit = (-chunk).exp();
            let mut p = self.uniform();
            while p > limit {
                total += 1;
                p *= self.uniform();
            }
        }
        total
    }

    /// Binomial(n, p) sample for any p in [0, 1]: p = ½ goes to [`Rng::binomial_half`];
    /// otherwise, for n ≤ 65 536, the exact count of successes found by skipping ahead with
    /// geometric gaps (cost ≈ n·min(p, 1 − p) + 1 draws); above, the normal approximation
    /// round(np + √(np(1 − p)) · z) clamped to [0, n]. p outside [0, 1] or NaN is clamped
    /// (NaN to 0).
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        if p == 0.5 {
            return self.binomial_half(n);
        }
        if p == 0.0 || n == 0 {
            return 0;
        }
        if p == 1.0 {
            return n;
        }
        if n > 1 << 16 {
            let m = n as f64 * p;
            let x = (m + (m * (1.0 - p)).sqrt() * self.normal()).round();
            return x.clamp(0.0, n as f64) as u64;
        }
        // Count the rarer outcome by geometric gaps between its occurrences.
        let (q, flip) = if p > 0.5 { (1.0 - p, true) } else { (p, false) };
        let log_miss = (1.0 - q).ln();
        let mut position = 0u64;
        let mut hits = 0u64;
        loop {
            // Trials up to and including the next success: 1 + ⌊ln U / ln(1 − q)⌋.
            let u = 1.0 - self.uniform();
            let gap = (u.ln() / log_miss).floor();
            if !(gap.is_finite()) || gap >= (n - position) as f64 {
                break;
            }
            position += gap as u64 + 1;
            hits += 1;
            if position >= n {
                break;
            }
        }
        if flip { n - hits } else { hits }
    }

    /// Binomial(n, ½) sample: the number of ones among `n` fair random bits (exact, cost
    /// n/64 draws) for n ≤ 65 536; above, the normal approximation
    /// round(n/2 + √n/2 · z) clamped to [0, n] (relative error of the moments < 10⁻⁵).
    pub fn binomial_half(&mut self, n: u64) -> u64 {
        if n > 1 << 16 {
            let x = (n as f64 / 2.0 + (n as f64).sqrt() / 2.0 * self.normal()).round();
            return x.clamp(0.0, n as f64) as u64;
        }
        let mut left = n;
        let mut total = 0u64;
        while left >= 64 {
            total += u64::from(self.next_u64().count_ones());
            left -= 64;
        }
        if left > 0 {
            let mask = (1u64 << left) - 1;
            total += u64::from((self.next_u64() & mask).count_ones());
        }
        total
    }
}
