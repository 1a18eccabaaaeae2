// Draws one tile of a micrograph from an R32Float texture, applying the contrast window and
// the colour map on the GPU.
//
// The quad covers the tile's rectangle, given in normalised device coordinates of the egui
// paint callback's viewport. Values are read with `textureLoad` (R32Float is not filterable
// on every device): nearest-neighbour when magnified, a box average of up to 8×8 texels per
// screen pixel when minified, so a 4k micrograph shown whole is binned, not aliased.

struct Params {
    // Tile rectangle in NDC: x0, y0 (top-left), x1, y1 (bottom-right).
    rect: vec4<f32>,
    // low, high (absolute values mapped to 0 and 1), colour map index, output is sRGB (1/0).
    window: vec4<f32>,
    // Tile width and height in texels; texels per physical screen pixel in x and y.
    size: vec4<f32>,
};

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var tile: texture_2d<f32>;

struct VsOut {
    @builtin(position) position: vec4<f32>,
    // Texel coordinates (0..width, 0..height) across the tile.
    @location(0) texel: vec2<f32>,
};

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VsOut {
    // Triangle strip: (0,0) (1,0) (0,1) (1,1).
    let corner = vec2<f32>(f32(index & 1u), f32((index >> 1u) & 1u));
    let x = mix(params.rect.x, params.rect.z, corner.x);
    let y = mix(params.rect.y, params.rect.w, corner.y);
    var out: VsOut;
    out.position = vec4<f32>(x, y, 0.0, 1.0);
    out.texel = corner * params.size.xy;
    return out;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

// Colour maps on t in [0, 1], in sRGB (gamma) space.
fn colour_map(t: f32, map: i32) -> vec3<f32> {
    if map == 1 {
        // Inverted grey.
        return vec3<f32>(1.0 - t);
    }
    if map == 2 {
        // Fire: black → red → yellow → white.
        return clamp(vec3<f32>(3.0 * t, 3.0 * t - 1.0, 3.0 * t - 2.0), vec3<f32>(0.0), vec3<f32>(1.0));
    }
    return vec3<f32>(t);
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let size = vec2<i32>(params.size.xy);
    // Texels covered by one screen pixel: uniform over the quad, so every fragment runs
    // the same number of loads (a software rasteriser then needs no per-lane masks).
    let footprint = max(params.size.zw, vec2<f32>(1e-6));
    let n = vec2<i32>(clamp(ceil(footprint), vec2<f32>(1.0), vec2<f32>(8.0)));
    var sum = 0.0;
    for (var j = 0; j < n.y; j++) {
        for (var i = 0; i < n.x; i++) {
            let offset = (vec2<f32>(f32(i), f32(j)) + 0.5) / vec2<f32>(n) - 0.5;
            let p = in.texel + offset * footprint * select(vec2<f32>(0.0), vec2<f32>(1.0), n > vec2<i32>(1));
            let q = clamp(vec2<i32>(floor(p)), vec2<i32>(0), size - 1);
            sum += textureLoad(tile, q, 0).r;
        }
    }
    let value = sum / f32(n.x * n.y);
    let low = params.window.x;
    let high = params.window.y;
    let t = clamp((value - low) / max(high - low, 1e-30), 0.0, 1.0);
    var rgb = colour_map(t, i32(params.window.z));
    if params.window.w > 0.5 {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, 1.0);
}
