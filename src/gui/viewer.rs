//! The micrograph viewer: pan/zoom state, GPU textures and the paint callback.
//!
//! An image is uploaded once as one or more R32Float textures ("tiles", each at most the
//! device's `max_texture_dimension_2d` on a side) and drawn through `shaders/micrograph.wgsl`,
//! which applies the contrast window and the colour map on the GPU: changing the contrast
//! costs one uniform write per tile, never a re-upload. Textures live in egui-wgpu's
//! callback resources, keyed by [`ViewImage::id`]; images no longer cached by the app are
//! dropped from the GPU on the next frame.

use std::collections::HashMap;
use std::sync::Arc;

use eframe::egui;
use eframe::egui_wgpu::{self, wgpu};
use egui::{Pos2, Rect, Sense, Vec2};

use super::panels::contrast::{ColourMap, Contrast};
use super::state::ViewImage;
use super::strip_pipeline::{strip_pipeline, uniform_entry};

/// Pan and zoom of the viewer, shared by the raw, denoised and low-pass views so that
/// switching views compares the same region.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewTransform {
    /// Screen points per image pixel.
    pub zoom: f32,
    /// Image coordinates (pixels) shown at the centre of the viewer.
    pub center: Vec2,
    /// While true, the image is refitted to the viewer every frame (until the user pans or
    /// zooms).
    pub fit: bool,
}

impl Default for ViewTransform {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            center: Vec2::ZERO,
            fit: true,
        }
    }
}

impl ViewTransform {
    /// Zoom factor limits relative to the fitted zoom, and absolute maximum.
    const MAX_ZOOM: f32 = 64.0;

    /// The zoom at which an image of `size` pixels fits `viewport`.
    pub fn fit_zoom(viewport: Rect, size: Vec2) -> f32 {
        (viewport.width() / size.x)
            .min(viewport.height() / size.y)
            .max(1e-4)
    }

    /// Fits an image of `size` pixels into `viewport`.
    pub fn fit_to(&mut self, viewport: Rect, size: Vec2) {
        self.zoom = Self::fit_zoom(viewport, size);
        self.center = size / 2.0;
    }

    /// Where the image lies on screen.
    pub fn image_rect(&self, viewport: Rect, size: Vec2) -> Rect {
        Rect::from_min_size(
            viewport.center() - self.center * self.zoom,
            size * self.zoom,
        )
    }

    /// Screen position → image coordinates (pixels, continuous).
    pub fn to_image(&self, viewport: Rect, screen: Pos2) -> Vec2 {
        (screen - viewport.center()) / self.zoom + self.center
    }

    /// Image coordinates (pixels, continuous) → screen position.
    pub fn to_screen(&self, viewport: Rect, image: Vec2) -> Pos2 {
        viewport.center() + (image - self.center) * self.zoom
    }

    /// Multiplies the zoom by `factor`, keeping the image point under `anchor` fixed.
    pub fn zoom_around(&mut self, viewport: Rect, size: Vec2, anchor: Pos2, factor: f32) {
        let min = Self::fit_zoom(viewport, size) / 8.0;
        let new_zoom = (self.zoom * factor).clamp(min, Self::MAX_ZOOM);
        let fixed = self.to_image(viewport, anchor);
        self.zoom = new_zoom;
        self.center = fixed - (anchor - viewport.center()) / new_zoom;
        self.fit = false;
    }

    /// Moves the image by `delta` screen points.
    pub fn pan(&mut self, delta: Vec2) {
        self.center -= delta / self.zoom;
        self.fit = false;
    }
}

/// What the viewer reports back to the app after a frame.
#[derive(Clone, Debug, Default)]
pub struct ViewerOutput {
    /// Pixel under the cursor and its value.
    pub hover: Option<(usize, usize, f32)>,
    /// The viewer's rectangle on screen (points).
    pub rect: Option<Rect>,
    /// The viewer's response (clicks, drags), for tools drawn over it (picking).
    pub response: Option<egui::Response>,
}

/// How the viewer reacts to the pointer this frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interaction {
    /// A primary drag pans (false while a tool owns the drag, e.g. moving a pick).
    pub pan: bool,
    /// A double click refits the image (off while picking, where clicks add picks).
    pub double_click_fit: bool,
    /// The wheel zooms (off for a second view stacked on the same area, e.g. a swipe).
    pub zoom: bool,
}

impl Default for Interaction {
    fn default() -> Self {
        Self {
            pan: true,
            double_click_fit: true,
            zoom: true,
        }
    }
}

/// How the viewer draws an image.
#[derive(Clone, Debug)]
pub struct Look {
    /// Contrast window.
    pub contrast: Contrast,
    /// Colour map.
    pub colour_map: ColourMap,
    /// Ids of every image the app still caches (their textures stay on the GPU).
    pub keep: Vec<u64>,
    /// Whether the wgpu renderer is there to draw with.
    pub gpu_ready: bool,
}

/// Draws `view` in the remaining space of `ui` as `look` says, handles pan (drag), zoom
/// (wheel, around the cursor) and keeps `transform` up to date.
pub fn show(
    ui: &mut egui::Ui,
    transform: &mut ViewTransform,
    view: &Arc<ViewImage>,
    look: Look,
    interaction: Interaction,
) -> ViewerOutput {
    let Look {
        contrast,
        colour_map,
        keep,
        gpu_ready,
    } = look;
    let (shown_w, shown_h) = view.display_size();
    let size = Vec2::new(shown_w as f32, shown_h as f32);
    let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Micrograph view"));
    if transform.fit {
        transform.fit_to(rect, size);
    }
    if interaction.pan && response.dragged_by(egui::PointerButton::Primary)
        || response.dragged_by(egui::PointerButton::Middle)
    {
        transform.pan(response.drag_delta());
    }
    if interaction.double_click_fit && response.double_clicked() {
        transform.fit = true;
    }
    if let Some(pointer) = response.hover_pos().filter(|_| interaction.zoom) {
        let (scroll, zoom) = ui.input(|i| (i.smooth_scroll_delta().y, i.zoom_delta()));
        let factor = (scroll * 0.0025).exp() * zoom;
        if (factor - 1.0).abs() > 1e-4 {
            transform.zoom_around(rect, size, pointer, factor);
        }
    }

    let painter = ui.painter_at(rect);
    let image_rect = transform.image_rect(rect, size);
    // The background only where the image does not cover the viewer: a fill under the image
    // would shade every pixel twice (a third of the frame on a software rasteriser).
    let covered = if gpu_ready {
        image_rect.intersect(rect)
    } else {
        Rect::NOTHING
    };
    for band in uncovered_bands(rect, covered) {
        painter.rect_filled(band, 0.0, egui::Color32::from_gray(24));
    }
    if gpu_ready {
        let (low, high) = contrast.window(&view.stats);
        painter.add(egui_wgpu::Callback::new_paint_callback(
            rect,
            MicrographCallback {
                view: Arc::clone(view),
                image_rect,
                viewport: rect,
                low,
                high,
                colour_map: colour_map.index(),
                keep,
            },
        ));
    } else {
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "No wgpu renderer: the micrograph cannot be drawn",
            egui::FontId::proportional(16.0),
            egui::Color32::LIGHT_RED,
        );
    }

    let hover = response.hover_pos().and_then(|p| {
        let q = transform.to_image(rect, p);
        if q.x < 0.0 || q.y < 0.0 {
            return None;
        }
        let (x, y) = (q.x.floor() as usize, q.y.floor() as usize);
        view.value_at(x, y).map(|v| (x, y, v))
    });
    ViewerOutput {
        hover,
        rect: Some(rect),
        response: Some(response),
    }
}

/// The parts of `rect` outside `covered` (a rectangle inside it, or empty) as up to four
/// bands: above and below across the full width, left and right between them.
pub fn uncovered_bands(rect: Rect, covered: Rect) -> Vec<Rect> {
    if !covered.is_positive() {
        return vec![rect];
    }
    let bands = [
        Rect::from_x_y_ranges(rect.x_range(), rect.top()..=covered.top()),
        Rect::from_x_y_ranges(rect.x_range(), covered.bottom()..=rect.bottom()),
        Rect::from_x_y_ranges(rect.left()..=covered.left(), covered.y_range()),
        Rect::from_x_y_ranges(covered.right()..=rect.right(), covered.y_range()),
    ];
    bands.into_iter().filter(|b| b.is_positive()).collect()
}

/// GPU state of the viewer, stored in egui-wgpu's callback resources.
pub struct ViewerGpu {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    max_tile: u32,
    srgb_target: bool,
    images: HashMap<u64, GpuImage>,
}

/// One image's textures: the full image, and its reduced copies when it has them
/// ([`crate::gui::state::view_image::reduced_levels`]).
struct GpuImage {
    full: Vec<GpuTile>,
    reduced: Vec<Vec<GpuTile>>,
}

struct GpuTile {
    /// Tile origin and size in image pixels.
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    _texture: wgpu::Texture,
    uniform: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rect: [f32; 4],
    window: [f32; 4],
    size: [f32; 4],
}

/// The largest texture side the viewer will use on `render_state`'s device: the device's
/// `max_texture_dimension_2d`, further capped by `tile_cap` (tests use it to force tiling).
pub fn max_tile_side(render_state: &egui_wgpu::RenderState, tile_cap: Option<u32>) -> u32 {
    let limit = render_state.device.limits().max_texture_dimension_2d;
    tile_cap.map_or(limit, |c| c.clamp(1, limit))
}

/// Creates the viewer's pipeline on `render_state`'s device and stores it in the renderer's
/// callback resources. Returns the tile side that will be used.
pub fn install(render_state: &egui_wgpu::RenderState, tile_cap: Option<u32>) -> u32 {
    let device = &render_state.device;
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("micrograph tile"),
        entries: &[
            uniform_entry(0),
            wgpu::BindGroupLayoutEntry {
                binding: 1,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            },
        ],
    });
    let pipeline = strip_pipeline(
        render_state,
        "micrograph",
        include_str!("../../shaders/micrograph.wgsl"),
        &layout,
        &[],
        None,
    );
    let max_tile = max_tile_side(render_state, tile_cap);
    let gpu = ViewerGpu {
        pipeline,
        layout,
        max_tile,
        srgb_target: render_state.target_format.is_srgb(),
        images: HashMap::new(),
    };
    render_state.renderer.write().callback_resources.insert(gpu);
    max_tile
}

/// Splits `len` pixels into runs of at most `max` (origin, length).
pub fn tile_spans(len: usize, max: u32) -> Vec<(u32, u32)> {
    let max = max.max(1) as usize;
    (0..len)
        .step_by(max)
        .map(|o| (o as u32, (len - o).min(max) as u32))
        .collect()
}

impl ViewerGpu {
    fn upload(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, view: &ViewImage) {
        let full = self.upload_image(device, queue, &view.image);
        let reduced = view
            .reduced
            .iter()
            .map(|r| self.upload_image(device, queue, r))
            .collect();
        self.images.insert(view.id, GpuImage { full, reduced });
    }

    fn upload_image(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        image: &crate::image::Image,
    ) -> Vec<GpuTile> {
        let mut tiles = Vec::new();
        for (y, h) in tile_spans(image.height, self.max_tile) {
            for (x, w) in tile_spans(image.width, self.max_tile) {
                let size = wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                };
                let texture = device.create_texture(&wgpu::TextureDescriptor {
                    label: Some("micrograph tile"),
                    size,
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: wgpu::TextureFormat::R32Float,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                    view_formats: &[],
                });
                // Rows of the tile are strided by the full image width in the source buffer.
                let start = y as usize * image.width + x as usize;
                let bytes: &[u8] = bytemuck::cast_slice(&image.data[start..]);
                queue.write_texture(
                    wgpu::TexelCopyTextureInfo {
                        texture: &texture,
                        mip_level: 0,
                        origin: wgpu::Origin3d::ZERO,
                        aspect: wgpu::TextureAspect::All,
                    },
                    bytes,
                    wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(image.width as u32 * 4),
                        rows_per_image: Some(h),
                    },
                    size,
                );
                let uniform = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("micrograph tile params"),
                    size: std::mem::size_of::<Params>() as u64,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let texture_view = texture.create_view(&wgpu::TextureViewDescriptor::default());
                let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("micrograph tile"),
                    layout: &self.layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: uniform.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: wgpu::BindingResource::TextureView(&texture_view),
                        },
                    ],
                });
                tiles.push(GpuTile {
                    x,
                    y,
                    w,
                    h,
                    _texture: texture,
                    uniform,
                    bind_group,
                });
            }
        }
        tiles
    }
}

/// One frame's drawing of one image.
struct MicrographCallback {
    view: Arc<ViewImage>,
    image_rect: Rect,
    viewport: Rect,
    low: f32,
    high: f32,
    colour_map: u32,
    keep: Vec<u64>,
}

impl MicrographCallback {
    /// The tiles to draw of `image`: those of the coarsest reduced level whose pixels are no
    /// larger than a screen pixel (`ppp` physical pixels per point), the full image's when
    /// zoomed in; with the drawn level's size in pixels.
    fn level<'a>(&self, image: &'a GpuImage, ppp: f32) -> (&'a [GpuTile], (f32, f32)) {
        let (w, h) = (self.view.image.width as f32, self.view.image.height as f32);
        let per_screen_px = w / (self.image_rect.width() * ppp).max(1e-3);
        let k = (per_screen_px.max(1.0).log2().floor() as usize).min(image.reduced.len());
        match k
            .checked_sub(1)
            .map(|i| (&image.reduced[i], &self.view.reduced[i]))
        {
            Some((tiles, r)) => (tiles, (r.width as f32, r.height as f32)),
            None => (&image.full, (w, h)),
        }
    }

    /// The tile's rectangle in NDC of the viewport, or `None` when it is off screen; `iw`,
    /// `ih` are the size of the level the tile belongs to.
    fn tile_ndc(&self, tile: &GpuTile, (iw, ih): (f32, f32)) -> Option<[f32; 4]> {
        let ir = self.image_rect;
        let x0 = ir.left() + ir.width() * tile.x as f32 / iw;
        let x1 = ir.left() + ir.width() * (tile.x + tile.w) as f32 / iw;
        let y0 = ir.top() + ir.height() * tile.y as f32 / ih;
        let y1 = ir.top() + ir.height() * (tile.y + tile.h) as f32 / ih;
        let vr = self.viewport;
        if x1 < vr.left() || x0 > vr.right() || y1 < vr.top() || y0 > vr.bottom() {
            return None;
        }
        let nx = |x: f32| (x - vr.left()) / vr.width() * 2.0 - 1.0;
        let ny = |y: f32| 1.0 - (y - vr.top()) / vr.height() * 2.0;
        Some([nx(x0), ny(y0), nx(x1), ny(y1)])
    }
}

impl egui_wgpu::CallbackTrait for MicrographCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(gpu) = resources.get_mut::<ViewerGpu>() else {
            return Vec::new();
        };
        let id = self.view.id;
        gpu.images.retain(|k, _| *k == id || self.keep.contains(k));
        if !gpu.images.contains_key(&id) {
            gpu.upload(device, queue, &self.view);
        }
        let srgb = if gpu.srgb_target { 1.0 } else { 0.0 };
        if let Some(image) = gpu.images.get(&id) {
            let ppp = screen.pixels_per_point.max(1e-3);
            let (tiles, size) = self.level(image, ppp);
            // Texels per physical pixel: the same over the whole quad (it is axis-aligned
            // and uniformly scaled), so the shader's loop bounds are uniform.
            let footprint = [
                size.0 / (self.image_rect.width() * ppp).max(1e-3),
                size.1 / (self.image_rect.height() * ppp).max(1e-3),
            ];
            for tile in tiles {
                if let Some(rect) = self.tile_ndc(tile, size) {
                    let params = Params {
                        rect,
                        window: [self.low, self.high, self.colour_map as f32, srgb],
                        size: [tile.w as f32, tile.h as f32, footprint[0], footprint[1]],
                    };
                    queue.write_buffer(&tile.uniform, 0, bytemuck::bytes_of(&params));
                }
            }
        }
        Vec::new()
    }

    fn paint(
        &self,
        info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(gpu) = resources.get::<ViewerGpu>() else {
            return;
        };
        let Some(image) = gpu.images.get(&self.view.id) else {
            return;
        };
        let (tiles, size) = self.level(image, info.pixels_per_point);
        render_pass.set_pipeline(&gpu.pipeline);
        for tile in tiles {
            if self.tile_ndc(tile, size).is_some() {
                render_pass.set_bind_group(0, &tile.bind_group, &[]);
                render_pass.draw(0..4, 0..1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_spans_cover_exactly() {
        assert_eq!(tile_spans(10, 4), vec![(0, 4), (4, 4), (8, 2)]);
        assert_eq!(tile_spans(8, 8), vec![(0, 8)]);
        assert_eq!(tile_spans(3, 16384), vec![(0, 3)]);
    }

    #[test]
    fn uncovered_bands_tile_the_rest_of_the_viewer() {
        let vp = Rect::from_min_size(Pos2::new(10.0, 20.0), Vec2::new(400.0, 300.0));
        let area = |r: &Rect| r.width() * r.height();
        for covered in [
            Rect::from_min_max(Pos2::new(60.0, 20.0), Pos2::new(350.0, 320.0)),
            Rect::from_min_max(Pos2::new(10.0, 50.0), Pos2::new(410.0, 200.0)),
            Rect::from_min_max(Pos2::new(30.0, 40.0), Pos2::new(100.0, 90.0)),
            vp,
            Rect::NOTHING,
        ] {
            let bands = uncovered_bands(vp, covered);
            let inside = if covered.is_positive() {
                area(&covered)
            } else {
                0.0
            };
            let total: f32 = bands.iter().map(area).sum();
            assert!((total + inside - area(&vp)).abs() < 1e-3, "{covered:?}");
            for (i, b) in bands.iter().enumerate() {
                assert!(vp.contains_rect(*b));
                assert!(area(&b.intersect(covered)) <= 0.0 || !covered.is_positive());
                for c in &bands[i + 1..] {
                    assert!(!b.intersect(*c).is_positive(), "{b:?} overlaps {c:?}");
                }
            }
        }
        assert!(uncovered_bands(vp, vp).is_empty());
    }

    #[test]
    fn zoom_keeps_anchor_fixed() {
        let vp = Rect::from_min_size(Pos2::new(10.0, 20.0), Vec2::new(400.0, 300.0));
        let size = Vec2::new(1000.0, 800.0);
        let mut t = ViewTransform::default();
        t.fit_to(vp, size);
        let anchor = Pos2::new(100.0, 50.0);
        let before = t.to_image(vp, anchor);
        t.zoom_around(vp, size, anchor, 2.5);
        let after = t.to_image(vp, anchor);
        assert!((before - after).length() < 1e-3, "{before:?} {after:?}");
        assert!(!t.fit);
    }
}
