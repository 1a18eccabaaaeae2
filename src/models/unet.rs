//! The layout of Topaz-Denoise's U-nets (`UDenoiseNet`, `UDenoiseNetSmall`, `UDenoiseNet3D`),
//! independent of the dimension and of what runs the convolutions: which convolutions each
//! block holds ([`unet_blocks`]) and how data flow through the blocks ([`unet_flow`]).
//!
//! Source: Bepler et al. 2020, "Topaz-Denoise: general deep denoising models for cryoEM and
//! cryoET" (Nat. Commun. 11:5208), Methods "Model architectures" and Supplementary Fig. 1
//! (the noise2noise U-net of Lehtinen et al. 2018). With `nf` filters, a U-net of L poolings
//! has L + 1 encoder blocks of one convolution (`enc1`: 1→nf, `base_width` wide; the others
//! nf→nf, 3 wide; every one but the last followed by 2× max pooling) and L decoder blocks
//! (`decL`: 2nf→2nf twice; `dec(L-1)`…`dec2`: 3nf→2nf, 2nf→2nf, 3 wide; `dec1`: the output
//! block (2nf+1)→t₁→t₂→1, `top_width` wide, linear last). [`UDenoiseNet`] holds the five-level
//! U-net's blocks for either dimension.

use burn::prelude::*;

/// The convolutions of a Topaz U-net with `ENC` encoder blocks and `DEC` = `ENC` − 1 decoder
/// blocks, built by `conv(cin, cout, width)` in the order of Topaz's modules — `enc1`…`encENC`,
/// then `decDEC`…`dec1` — so a seeded initialisation draws the same numbers whichever model
/// asks. Returns the encoder shallowest first and the decoder deepest first (the output block
/// `dec1` last). `top_channels` are t₁, t₂ of the output block (Topaz: 64, 32).
pub(crate) fn unet_blocks<C, const ENC: usize, const DEC: usize>(
    nf: usize,
    base_width: usize,
    top_width: usize,
    [t1, t2]: [usize; 2],
    mut conv: impl FnMut(usize, usize, usize) -> C,
) -> ([Vec<C>; ENC], [Vec<C>; DEC]) {
    debug_assert_eq!(DEC + 1, ENC, "a U-net has one decoder block per pooling");
    let encoder = std::array::from_fn(|i| {
        if i == 0 {
            vec![conv(1, nf, base_width)]
        } else {
            vec![conv(nf, nf, 3)]
        }
    });
    let decoder = std::array::from_fn(|i| {
        if i + 1 == DEC {
            vec![
                conv(2 * nf + 1, t1, top_width),
                conv(t1, t2, top_width),
                conv(t2, 1, top_width),
            ]
        } else {
            let cin = if i == 0 { 2 * nf } else { 3 * nf };
            vec![conv(cin, 2 * nf, 3), conv(2 * nf, 2 * nf, 3)]
        }
    });
    (encoder, decoder)
}

/// Topaz's five-level U-net, `UDenoiseNet` (2D, `C` = `Conv2d`: [`super::topaz::UNet`]) and
/// `UDenoiseNet3D` (`C` = `Conv3d`: [`super::topaz3d::UNet3d`]). Field names equal the
/// PyTorch state-dict prefixes, and each `nn.Sequential` is a `Vec` of its convolutions in
/// order (PyTorch's `dec5.0`, `dec5.2` become indices 0 and 1 when loaded with
/// `map_indices_contiguous`).
#[derive(Module, Debug)]
pub struct UDenoiseNet<C> {
    /// `enc1`: conv 1→nf (`base_width`), pooled.
    pub enc1: Vec<C>,
    /// `enc2`…`enc5`: conv nf→nf (3 wide), pooled.
    pub enc2: Vec<C>,
    /// See `enc2`.
    pub enc3: Vec<C>,
    /// See `enc2`.
    pub enc4: Vec<C>,
    /// See `enc2`.
    pub enc5: Vec<C>,
    /// `enc6`: conv nf→nf (3 wide), not pooled.
    pub enc6: Vec<C>,
    /// `dec5`: two convs 2nf→2nf.
    pub dec5: Vec<C>,
    /// `dec4`…`dec2`: conv 3nf→2nf, conv 2nf→2nf.
    pub dec4: Vec<C>,
    /// See `dec4`.
    pub dec3: Vec<C>,
    /// See `dec4`.
    pub dec2: Vec<C>,
    /// `dec1`: conv (2nf+1)→t₁, t₁→t₂, t₂→1, all `top_width` wide; linear output.
    pub dec1: Vec<C>,
}

impl<C> UDenoiseNet<C> {
    /// The U-net of `nf` filters, first width `base_width`, output width `top_width` and
    /// output channels `top_channels`, its convolutions built by `conv(cin, cout, width)` (see
    /// [`unet_blocks`]).
    pub(crate) fn build(
        nf: usize,
        base_width: usize,
        top_width: usize,
        top_channels: [usize; 2],
        conv: impl FnMut(usize, usize, usize) -> C,
    ) -> Self {
        let ([enc1, enc2, enc3, enc4, enc5, enc6], [dec5, dec4, dec3, dec2, dec1]) =
            unet_blocks(nf, base_width, top_width, top_channels, conv);
        Self {
            enc1,
            enc2,
            enc3,
            enc4,
            enc5,
            enc6,
            dec5,
            dec4,
            dec3,
            dec2,
            dec1,
        }
    }

    /// The encoder blocks in [`unet_flow`]'s order: `enc1`…`enc6`.
    pub fn encoder(&self) -> [&[C]; 6] {
        [
            &self.enc1, &self.enc2, &self.enc3, &self.enc4, &self.enc5, &self.enc6,
        ]
        .map(Vec::as_slice)
    }

    /// The decoder blocks in [`unet_flow`]'s order: `dec5`…`dec1`.
    pub fn decoder(&self) -> [&[C]; 5] {
        [&self.dec5, &self.dec4, &self.dec3, &self.dec2, &self.dec1].map(Vec::as_slice)
    }
}

/// Runs a U-net on `x`, whatever the tensors and whoever runs the blocks: `encode(block, h,
/// pooled)` applies an encoder block with a leaky ReLU after each convolution, then 2× max
/// pooling when `pooled`; `decode(block, h, skip, last)` up-samples `h` (nearest) to `skip`'s
/// size, concatenates `[h, skip]` along the channels and applies a decoder block (its last
/// convolution linear when `last`, the output block). `encoder` is shallowest first, its last
/// block the unpooled bottom; `decoder` deepest first, block `i` taking the skip of its level
/// (the input `x` for the output block).
pub(crate) fn unet_flow<B, T: Clone>(
    encoder: &[B],
    decoder: &[B],
    x: T,
    mut encode: impl FnMut(&B, T, bool) -> T,
    mut decode: impl FnMut(&B, T, T, bool) -> T,
) -> T {
    let mut skips = Vec::with_capacity(encoder.len());
    let mut h = x;
    for (i, block) in encoder.iter().enumerate() {
        if i + 1 < encoder.len() {
            let pooled = encode(block, h.clone(), true);
            skips.push(std::mem::replace(&mut h, pooled));
        } else {
            h = encode(block, h, false);
        }
    }
    for (i, (block, skip)) in decoder.iter().zip(skips.into_iter().rev()).enumerate() {
        h = decode(block, h, skip, i + 1 == decoder.len());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A convolution's (input channels, output channels, kernel width).
    type Shape = (usize, usize, usize);

    #[test]
    fn blocks_have_topaz_shapes_in_module_order() {
        let mut order = Vec::new();
        let (enc, dec): ([Vec<Shape>; 4], [_; 3]) =
            unet_blocks(48, 11, 5, [64, 32], |cin, cout, k| {
                order.push((cin, cout, k));
                (cin, cout, k)
            });
        // UDenoiseNetSmall(nf=48, width=11, top_width=5), as in unet_small_L1_v0.2.2.sav.
        assert_eq!(enc[0], vec![(1, 48, 11)]);
        assert!(enc[1..].iter().all(|b| *b == vec![(48, 48, 3)]));
        assert_eq!(dec[0], vec![(96, 96, 3), (96, 96, 3)]);
        assert_eq!(dec[1], vec![(144, 96, 3), (96, 96, 3)]);
        assert_eq!(dec[2], vec![(97, 64, 5), (64, 32, 5), (32, 1, 5)]);
        let listed: Vec<_> = enc.iter().chain(&dec).flatten().copied().collect();
        assert_eq!(order, listed, "built in the order of Topaz's modules");
    }

    #[test]
    fn flow_pairs_each_decoder_block_with_its_level() {
        // Strings record the data path: pooling appends 'p', a decoder block wraps its inputs.
        let enc = ["e1", "e2", "e3"];
        let dec = ["d2", "d1"];
        let out = unet_flow(
            &enc,
            &dec,
            "x".to_string(),
            |b, h, pooled| format!("{b}({h}){}", if pooled { "p" } else { "" }),
            |b, h, skip, last| format!("{b}{}[{h}|{skip}]", if last { "!" } else { "" }),
        );
        assert_eq!(out, "d1![d2[e3(e2(e1(x)p)p)|e1(x)p]|x]");
    }
}
