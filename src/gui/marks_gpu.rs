//! Pick marks drawn on the GPU: every circle or box of the overlay as one instanced quad in a
//! single draw call (`shaders/marks.wgsl`), the outline and the centre dot computed per
//! fragment with one physical pixel of anti-aliasing.
//!
//! egui tessellates a stroked circle into a feathered ring of dozens of triangles; with a
//! thousand picks on screen that was about 130 ms of every frame on lavapipe (software
//! Vulkan), more than the micrograph itself (`cryolens bench --what gui` with and without
//! picks). Two triangles per pick cost the rasteriser next to nothing on any device.

use std::collections::HashMap;

use eframe::egui;
use eframe::egui_wgpu::{self, wgpu};
use egui::{Color32, Pos2, Rect};

use super::strip_pipeline::{strip_pipeline, uniform_entry};

/// One mark: centre in points from the viewport's top-left, circle radius or half the box
/// side in points, circle (0) or box (1), and an sRGB colour with alpha (`Color32`'s bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuMark {
    centre: [f32; 2],
    size_kind: [f32; 2],
    colour: u32,
}

impl GpuMark {
    /// A circle of radius `radius` (points) centred at `centre` (screen points), or, with
    /// `boxed`, a square of half side `radius`; `viewport` is the rectangle the marks are drawn
    /// in.
    pub fn new(viewport: Rect, centre: Pos2, radius: f32, boxed: bool, colour: Color32) -> Self {
        let c = centre - viewport.min;
        Self {
            centre: [c.x, c.y],
            size_kind: [radius, if boxed { 1.0 } else { 0.0 }],
            colour: u32::from_le_bytes(colour.to_array()),
        }
    }
}

/// The uniform of one batch (see `Frame` in the shader).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FrameParams {
    size: [f32; 4],
    style: [f32; 4],
}

/// One batch's buffers on the device.
struct Batch {
    uniform: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    instances: wgpu::Buffer,
    capacity: usize,
    count: u32,
}

/// The marks pipeline and its batches, in egui-wgpu's callback resources.
pub struct MarksGpu {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    srgb_target: bool,
    batches: HashMap<u64, Batch>,
}

/// Creates the marks pipeline on `render_state`'s device and stores it in the renderer's
/// callback resources.
pub fn install(render_state: &egui_wgpu::RenderState) {
    let device = &render_state.device;
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("marks frame"),
        entries: &[uniform_entry(0)],
    });
    let attributes = wgpu::vertex_attr_array![0 => Float32x2, 1 => Float32x2, 2 => Uint32];
    let pipeline = strip_pipeline(
        render_state,
        "marks",
        include_str!("../../shaders/marks.wgsl"),
        &layout,
        &[Some(wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<GpuMark>() as u64,
            step_mode: wgpu::VertexStepMode::Instance,
            attributes: &attributes,
        })],
        Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
    );
    let gpu = MarksGpu {
        pipeline,
        layout,
        srgb_target: render_state.target_format.is_srgb(),
        batches: HashMap::new(),
    };
    render_state.renderer.write().callback_resources.insert(gpu);
}

/// Adds `marks` to `painter` as one paint callback over `viewport`: outlines `outline`
/// points wide, centre dots of radius `dot` points. `key` names the batch (one per place the
/// marks are drawn in a frame, so two places do not overwrite each other's buffers).
pub fn paint_marks(
    painter: &egui::Painter,
    viewport: Rect,
    key: u64,
    marks: Vec<GpuMark>,
    outline: f32,
    dot: f32,
) {
    painter.add(egui_wgpu::Callback::new_paint_callback(
        viewport,
        MarksCallback {
            key,
            size: viewport.size(),
            marks,
            outline,
            dot,
        },
    ));
}

/// One frame's marks in one viewport.
struct MarksCallback {
    key: u64,
    size: egui::Vec2,
    marks: Vec<GpuMark>,
    outline: f32,
    dot: f32,
}

impl egui_wgpu::CallbackTrait for MarksCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(gpu) = resources.get_mut::<MarksGpu>() else {
            return Vec::new();
        };
        let needed = self.marks.len().max(1);
        let layout = &gpu.layout;
        let batch = gpu
            .batches
            .entry(self.key)
            .or_insert_with(|| new_batch(device, layout, needed));
        if batch.capacity < needed {
            *batch = new_batch(device, layout, needed.next_power_of_two());
        }
        let params = FrameParams {
            size: [
                self.size.x.max(1.0),
                self.size.y.max(1.0),
                screen.pixels_per_point,
                if gpu.srgb_target { 1.0 } else { 0.0 },
            ],
            style: [self.outline, self.dot, 0.0, 0.0],
        };
        queue.write_buffer(&batch.uniform, 0, bytemuck::bytes_of(&params));
        if !self.marks.is_empty() {
            queue.write_buffer(&batch.instances, 0, bytemuck::cast_slice(&self.marks));
        }
        batch.count = self.marks.len() as u32;
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(gpu) = resources.get::<MarksGpu>() else {
            return;
        };
        let Some(batch) = gpu.batches.get(&self.key).filter(|b| b.count > 0) else {
            return;
        };
        render_pass.set_pipeline(&gpu.pipeline);
        render_pass.set_bind_group(0, &batch.bind_group, &[]);
        render_pass.set_vertex_buffer(0, batch.instances.slice(..));
        render_pass.draw(0..4, 0..batch.count);
    }
}

/// Buffers for up to `capacity` marks.
fn new_batch(device: &wgpu::Device, layout: &wgpu::BindGroupLayout, capacity: usize) -> Batch {
    let uniform = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("marks frame"),
        size: std::mem::size_of::<FrameParams>() as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("marks frame"),
        layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }],
    });
    let instances = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("marks"),
        size: (capacity * std::mem::size_of::<GpuMark>()) as u64,
        usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    Batch {
        uniform,
        bind_group,
        instances,
        capacity,
        count: 0,
    }
}
