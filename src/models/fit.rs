//! Images smaller than a network takes: each 2D model has a minimum side (a U-net with `p`
//! 2× poolings needs `2^p` pixels per axis so its deepest level keeps at least one pixel:
//! [`crate::models::TopazConfig::min_size`]); a smaller image (or tile window) is padded at
//! its bottom and right by mirror reflection up to that size, run, and cropped back, so
//! denoising a 1×1, 3×5 or 7×300 image works on every backend. Padding at the far sides keeps
//! the window's origin, and with it the pooling grid of tiled runs, in place.
//!
//! Reflection does not repeat the edge pixel (PyTorch's `reflect`: `… c b | a b c | b a …`)
//! and continues periodically when the padding is longer than the image, so any size pads.

/// The source index of padded index `i` on an axis of `n` pixels: mirror reflection without
/// repeating the edge, periodic with period `2(n − 1)`; every index maps to 0 when `n` = 1.
pub fn reflect_index(i: usize, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i % period;
    if m < n { m } else { period - m }
}

/// Pads a row-major `height × width` image at the bottom and right to `new_h × new_w`
/// (each at least the old size) by [`reflect_index`]; row-major out.
pub fn pad_reflect_2d(
    data: &[f32],
    height: usize,
    width: usize,
    new_h: usize,
    new_w: usize,
) -> Vec<f32> {
    let cols: Vec<usize> = (0..new_w).map(|x| reflect_index(x, width)).collect();
    let mut out = Vec::with_capacity(new_h * new_w);
    for y in 0..new_h {
        let row = &data[reflect_index(y, height) * width..][..width];
        out.extend(cols.iter().map(|&x| row[x]));
    }
    out
}

/// The top-left `height × width` of a row-major image `width_padded` pixels wide.
pub fn crop_2d(data: &[f32], width_padded: usize, height: usize, width: usize) -> Vec<f32> {
    data.chunks(width_padded)
        .take(height)
        .flat_map(|row| row[..width].iter().copied())
        .collect()
}

/// Runs `run` (row-major image, height, width → row-major output of the same shape) on
/// `input` (`height × width`), padded by reflection to at least `min` pixels per side when
/// smaller ([`pad_reflect_2d`]) and cropped back after: the output is always `height × width`.
///
/// # Errors
/// `run`'s.
pub fn run_at_least<E>(
    input: Vec<f32>,
    height: usize,
    width: usize,
    min: usize,
    run: impl FnOnce(Vec<f32>, usize, usize) -> Result<Vec<f32>, E>,
) -> Result<Vec<f32>, E> {
    let (ph, pw) = (height.max(min), width.max(min));
    if (ph, pw) == (height, width) {
        return run(input, height, width);
    }
    let out = run(pad_reflect_2d(&input, height, width, ph, pw), ph, pw)?;
    Ok(crop_2d(&out, pw, height, width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_mirrors_without_repeating_the_edge_and_continues() {
        let got: Vec<usize> = (0..9).map(|i| reflect_index(i, 3)).collect();
        assert_eq!(got, vec![0, 1, 2, 1, 0, 1, 2, 1, 0]);
        assert!((0..40).all(|i| reflect_index(i, 1) == 0));
        let got: Vec<usize> = (0..4).map(|i| reflect_index(i, 2)).collect();
        assert_eq!(got, vec![0, 1, 0, 1]);
    }

    #[test]
    fn pad_then_crop_is_the_identity_and_the_pad_mirrors() {
        let (h, w) = (3, 5);
        let data: Vec<f32> = (0..h * w).map(|v| v as f32).collect();
        let p = pad_reflect_2d(&data, h, w, 8, 9);
        assert_eq!(p.len(), 72);
        // Row 3 mirrors row 1; column 5 mirrors column 3.
        assert_eq!(&p[3 * 9..3 * 9 + 5], &data[5..10]);
        assert_eq!(p[5], data[3]);
        assert_eq!(crop_2d(&p, 9, h, w), data);
        let out = run_at_least::<()>(data.clone(), h, w, 8, |x, ph, pw| {
            assert_eq!((ph, pw, x.len()), (8, 8, 64));
            Ok(x)
        });
        assert_eq!(out, Ok(data));
    }
}
