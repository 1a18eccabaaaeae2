//! A CPU inference path for Topaz's 2D models: the same network, weights taken from the burn
//! module, run by the native kernels ([`crate::kernels`]) on channels-last (y, x, c) arrays.
//! This file is only the model glue: reading a burn `Conv2d` into packed
//! [`Conv2dWeights`] and wiring Topaz's architectures (affine, fcnn, U-nets) from the
//! kernels' convolutions, pooling and up-sampling. Why and how the kernels are fast: see
//! [`crate::kernels`].
//!
//! Numerics: f32 throughout, like PyTorch; parity with Topaz is tested exactly as for burn.

use burn::nn::conv::Conv2d;

use super::topaz::{LEAK, TopazModel};
use crate::kernels::{Conv2dWeights, Hwc, chain, pool, up_cat};

/// The weights of a burn `Conv2d` (`[cout, cin, k, k]`, square kernel), packed for the
/// native kernels; a missing bias reads as zeros.
///
/// # Panics
/// A non-square kernel, or weights that are not f32.
pub(crate) fn conv_weights(conv: &Conv2d) -> Conv2dWeights {
    let w = conv.weight.val();
    let [cout, cin, kh, kw] = w.dims();
    assert_eq!(kh, kw, "square kernels only");
    let data = w.into_data();
    let raw: Vec<f32> = data
        .as_slice::<f32>()
        .map(|s| s.to_vec())
        .unwrap_or_default();
    let bias = conv.bias.as_ref().map(|b| {
        b.val()
            .into_data()
            .as_slice::<f32>()
            .map(|s| s.to_vec())
            .unwrap_or_default()
    });
    Conv2dWeights::from_oihw(&raw, bias, cout, cin, kh)
}

fn convs(list: &[Conv2d]) -> Vec<Conv2dWeights> {
    list.iter().map(conv_weights).collect()
}

/// The slope of Topaz's leaky ReLUs in the kernels' f32.
const SLOPE: f32 = LEAK as f32;

/// Applies `convs` with Topaz's leaky ReLU after each except the last when `linear_last`.
fn run(convs: &[Conv2dWeights], x: Hwc, linear_last: bool) -> Hwc {
    chain(convs, x, SLOPE, linear_last)
}

/// Topaz's 2D models with host-side weights, run by the native kernels.
pub struct NativeModel(Net);

#[allow(clippy::enum_variant_names)] // the variants are Topaz's model names
enum Net {
    /// One linear filter.
    Affine(Conv2dWeights),
    /// Three convolutions.
    Fcnn(Vec<Conv2dWeights>),
    /// `enc1..enc4`, `dec3..dec1`.
    UNetSmall([Vec<Conv2dWeights>; 7]),
    /// `enc1..enc6`, `dec5..dec1`.
    UNet([Vec<Conv2dWeights>; 11]),
}

impl NativeModel {
    /// Copies the weights out of a loaded burn model.
    pub fn from_burn(model: &TopazModel) -> Self {
        NativeModel(match model {
            TopazModel::Affine(m) => Net::Affine(conv_weights(&m.filter)),
            TopazModel::Fcnn(m) => Net::Fcnn(convs(&m.net)),
            TopazModel::UNetSmall(m) => Net::UNetSmall([
                convs(&m.enc1),
                convs(&m.enc2),
                convs(&m.enc3),
                convs(&m.enc4),
                convs(&m.dec3),
                convs(&m.dec2),
                convs(&m.dec1),
            ]),
            TopazModel::UNet(m) => Net::UNet([
                convs(&m.enc1),
                convs(&m.enc2),
                convs(&m.enc3),
                convs(&m.enc4),
                convs(&m.enc5),
                convs(&m.enc6),
                convs(&m.dec5),
                convs(&m.dec4),
                convs(&m.dec3),
                convs(&m.dec2),
                convs(&m.dec1),
            ]),
        })
    }

    /// Smallest side the network takes (2^poolings, as [`super::TopazConfig::min_size`]).
    fn min_size(&self) -> usize {
        match &self.0 {
            Net::Affine(_) | Net::Fcnn(_) => 1,
            Net::UNetSmall(_) => 8,
            Net::UNet(_) => 32,
        }
    }

    /// Runs the network on one `height × width` single-channel image (normalised units,
    /// row-major), returning the output in the same layout. Any size works: an image smaller
    /// than the U-net's poolings take is padded by reflection and cropped back
    /// ([`super::fit::run_at_least`]).
    pub fn forward(&self, image: &[f32], height: usize, width: usize) -> Vec<f32> {
        let Ok(y) = super::fit::run_at_least::<std::convert::Infallible>(
            image.to_vec(),
            height,
            width,
            self.min_size(),
            |x, h, w| Ok(self.forward_fitted(x, h, w)),
        );
        y
    }

    /// [`NativeModel::forward`] on an image of at least [`NativeModel::min_size`] per side.
    fn forward_fitted(&self, image: Vec<f32>, height: usize, width: usize) -> Vec<f32> {
        let x = Hwc::image(image, height, width);
        let y = match &self.0 {
            Net::Affine(c) => c.forward(&x, None),
            Net::Fcnn(c) => run(c, x, true),
            Net::UNetSmall([e1, e2, e3, e4, d3, d2, d1]) => {
                let p1 = pool(&run(e1, x.clone(), false));
                let p2 = pool(&run(e2, p1.clone(), false));
                let p3 = pool(&run(e3, p2.clone(), false));
                let h = run(e4, p3, false);
                let h = run(d3, up_cat(&h, &p2), false);
                let h = run(d2, up_cat(&h, &p1), false);
                run(d1, up_cat(&h, &x), true)
            }
            Net::UNet([e1, e2, e3, e4, e5, e6, d5, d4, d3, d2, d1]) => {
                let p1 = pool(&run(e1, x.clone(), false));
                let p2 = pool(&run(e2, p1.clone(), false));
                let p3 = pool(&run(e3, p2.clone(), false));
                let p4 = pool(&run(e4, p3.clone(), false));
                let p5 = pool(&run(e5, p4.clone(), false));
                let h = run(e6, p5, false);
                let h = run(d5, up_cat(&h, &p4), false);
                let h = run(d4, up_cat(&h, &p3), false);
                let h = run(d3, up_cat(&h, &p2), false);
                let h = run(d2, up_cat(&h, &p1), false);
                run(d1, up_cat(&h, &x), true)
            }
        };
        y.data
    }
}
