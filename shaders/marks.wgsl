// Draws the pick marks over the micrograph viewer: one instanced quad per pick, the circle
// (or box) outline and the centre dot computed per fragment from the distance to the centre,
// with one physical pixel of anti-aliasing. One draw call for every mark, whatever their
// number, so a software rasteriser sets up two triangles per pick instead of the hundreds a
// tessellated, feathered circle needs.
//
// Coordinates are in points relative to the paint callback's rectangle (its viewport).

struct Frame {
    // Viewport width, height (points), physical pixels per point, output is sRGB (1/0).
    size: vec4<f32>,
    // Outline width, centre dot radius (points), unused, unused.
    style: vec4<f32>,
};

@group(0) @binding(0) var<uniform> frame: Frame;

struct Mark {
    // Centre (points, from the viewport's top-left).
    @location(0) centre: vec2<f32>,
    // Circle radius or half the box side (points); 0 = circle, 1 = box.
    @location(1) size_kind: vec2<f32>,
    // sRGB colour, premultiplied by its alpha, 8 bits each (egui's Color32 bytes: r, g, b, a).
    @location(2) colour: u32,
};

struct VsOut {
    @builtin(position) position: vec4<f32>,
    // Offset from the mark's centre (points).
    @location(0) offset: vec2<f32>,
    @location(1) @interpolate(flat) size_kind: vec2<f32>,
    @location(2) @interpolate(flat) colour: vec4<f32>,
};

@vertex
fn vs_main(@builtin(vertex_index) index: u32, mark: Mark) -> VsOut {
    // Triangle strip: (-1,-1) (1,-1) (-1,1) (1,1), covering the outline and its smoothing.
    let corner = vec2<f32>(f32(index & 1u), f32((index >> 1u) & 1u)) * 2.0 - 1.0;
    let pixel = 1.0 / frame.size.z;
    let half = max(mark.size_kind.x + 0.5 * frame.style.x, frame.style.y) + 2.0 * pixel;
    let p = mark.centre + corner * half;
    var out: VsOut;
    out.position = vec4<f32>(p.x / frame.size.x * 2.0 - 1.0, 1.0 - p.y / frame.size.y * 2.0, 0.0, 1.0);
    out.offset = corner * half;
    out.size_kind = mark.size_kind;
    out.colour = unpack4x8unorm(mark.colour);
    return out;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let pixel = 1.0 / frame.size.z;
    let r = length(in.offset);
    // Circle: Euclidean distance; box: Chebyshev distance, so its outline is the square.
    let d = select(r, max(abs(in.offset.x), abs(in.offset.y)), in.size_kind.y > 0.5);
    // Coverage of a band of width w around d = size, smoothed over one physical pixel.
    let w = frame.style.x;
    let outline = clamp((0.5 * w - abs(d - in.size_kind.x)) / pixel + 0.5, 0.0, 1.0);
    let dot = clamp((frame.style.y - r) / pixel + 0.5, 0.0, 1.0);
    let coverage = max(outline, dot);
    if coverage * in.colour.a <= 0.0 {
        discard;
    }
    var rgb = in.colour.rgb;
    if frame.size.w > 0.5 {
        rgb = srgb_to_linear(rgb);
    }
    // egui's colours are premultiplied, and so is its blending.
    return vec4<f32>(rgb, in.colour.a) * coverage;
}
