//! Volumes (tomograms, maps, stacks): the section shown and the slab, denoising the whole
//! volume with a 3D model, and the orthoviews' jobs.

use std::sync::Arc;

use eframe::egui;

use crate::jobs::Job;

use crate::gui::app::CryolensApp;
use crate::gui::loading::section_view;
use crate::gui::panels::micrograph_list;
use crate::gui::state::{DocModel, OrthoKey, SectionKey, View, ViewImage};

impl CryolensApp {
    /// Shows section `z` (clamped) of the open volume, averaged over the slab thickness; the
    /// derived views follow in the background.
    pub fn set_section(&mut self, z: usize) {
        let thickness = self.volume_view.slab_thickness;
        let Some(doc) = &self.doc else { return };
        let Some((volume, _)) = &doc.volume else {
            return;
        };
        let z = z.min(volume.shape().2 - 1);
        let (index, volume) = (doc.index, Arc::clone(volume));
        let denoised = doc.denoised_volume.as_ref().map(|(_, v)| Arc::clone(v));
        let job = Job::spawn("section", move |p| {
            use crate::image::Axis;
            p.set_message(format!("section {z}"));
            let raw = volume.slab(Axis::Z, z, thickness);
            if let Some(e) = volume.take_read_error() {
                anyhow::bail!("section {z}: {e}");
            }
            Ok((
                section_view(&*volume, raw),
                denoised.map(|d| ViewImage::new(d.slab(Axis::Z, z, thickness))),
            ))
        });
        self.jobs.section.start(
            SectionKey {
                index,
                z,
                thickness,
            },
            job,
        );
    }

    /// Sets the slab thickness (sections averaged) and redraws the section.
    pub fn set_slab_thickness(&mut self, thickness: usize) {
        self.volume_view.slab_thickness = thickness.max(1);
        if let Some((_, z)) = self.section() {
            self.set_section(z);
        }
    }

    /// Denoises the open volume with Topaz's `unet-3d-10a` (96³ patches, 48 voxels padding,
    /// global normalisation) in the background; the denoised view then shows its sections.
    pub fn denoise_volume(&mut self) {
        let (Some(doc), Some(device)) = (&self.doc, &self.device) else {
            return;
        };
        let Some((volume, _)) = &doc.volume else {
            return;
        };
        let arch = crate::models::Topaz3dArch::UNet3d10A;
        let (volume, device) = (Arc::clone(volume), device.clone());
        let job = Job::spawn("denoise volume", move |p| {
            use crate::denoise::volume::{Topaz3dDenoiser, VolumeTileConfig};
            p.set_message(format!("loading {}", arch.name()));
            let d = Topaz3dDenoiser::load(&crate::models::ModelSpec::Topaz3d(arch), &device)?;
            p.set_message("reading the volume");
            let volume = volume.to_volume()?;
            p.set_message(format!("{} on 96³ patches", arch.name()));
            d.denoise(&volume, &VolumeTileConfig::default(), p)
        });
        self.jobs.volume_denoise.start(
            DocModel {
                index: doc.index,
                model: arch.name(),
            },
            job,
        );
    }

    pub(in crate::gui) fn poll_volume_denoise(&mut self) {
        if let Some((key, result)) = self.jobs.volume_denoise.poll() {
            let DocModel { index, model: name } = key;
            match result {
                Ok(v) => {
                    if let Some(doc) = self.doc.as_mut().filter(|d| d.index == index) {
                        doc.denoised_volume = Some((name, Arc::new(v)));
                    }
                    if let Some((_, z)) = self.section() {
                        self.set_section(z);
                    }
                }
                Err(e) => self.error = Some(format!("Denoising the volume failed: {e:#}")),
            }
        }
    }

    pub(in crate::gui) fn poll_volume(&mut self) {
        if let Some((key, result)) = self.jobs.section.poll() {
            let SectionKey { index, z, .. } = key;
            match result {
                Ok((img, denoised_section)) => {
                    // Views derived from the old section are dropped with their jobs.
                    self.jobs.denoise.cancel();
                    self.jobs.lowpass.cancel();
                    self.jobs.merge.cancel();
                    if let Some(doc) = self.doc.as_mut().filter(|d| d.index == index) {
                        doc.replace_section(img, z, denoised_section);
                    }
                }
                Err(e) => self.error = Some(format!("Reading the section failed: {e:#}")),
            }
        }
        if let Some((key, Ok([xz, yz]))) = self.jobs.ortho.poll() {
            let tex = |name: &str, img| {
                self.egui_ctx
                    .load_texture(name, img, egui::TextureOptions::NEAREST)
            };
            self.orthoviews.shown = Some((key, [tex("xz view", xz), tex("yz view", yz)]));
        }
        // Orthoviews through the shared cursor (the centre until the XY view is hovered).
        let Some(doc) = &self.doc else { return };
        let Some((volume, z)) = &doc.volume else {
            self.orthoviews.shown = None;
            return;
        };
        let (vw, vh, _) = volume.shape();
        let (x, y) = self.volume_view.ortho_cursor.unwrap_or((vw / 2, vh / 2));
        // The orthoviews show what the XY view shows: the denoised volume (once a 3D model
        // made it), the low-passed sections, or raw (also for the merged view).
        let denoised = doc.denoised_volume.as_ref().map(|(_, v)| Arc::clone(v));
        let (shows, lowpass) = match self.view {
            View::Denoised if denoised.is_some() => (View::Denoised, 0),
            View::Lowpass => (View::Lowpass, self.settings.lowpass_key()),
            _ => (View::Raw, 0),
        };
        let key = OrthoKey {
            index: doc.index,
            x,
            y,
            z: *z,
            thickness: self.volume_view.slab_thickness,
            shows,
            lowpass,
        };
        if !self.jobs.ortho.is_running()
            && self
                .orthoviews
                .shown
                .as_ref()
                .is_none_or(|(k, _)| *k != key)
        {
            let volume = Arc::clone(volume);
            let t = self.volume_view.slab_thickness;
            let lowpass = self.settings.lowpass();
            let job = Job::spawn("orthoviews", move |_| {
                use crate::image::Axis;
                let (xz, yz) = match (shows, denoised) {
                    (View::Denoised, Some(d)) => (d.slab(Axis::Y, y, t), d.slab(Axis::X, x, t)),
                    _ => (volume.slab(Axis::Y, y, t), volume.slab(Axis::X, x, t)),
                };
                if let Some(e) = volume.take_read_error() {
                    anyhow::bail!("orthoviews: {e}");
                }
                let (xz, yz) = if shows == View::Lowpass {
                    (lowpass.apply(&xz)?, lowpass.apply(&yz)?)
                } else {
                    (xz, yz)
                };
                let side = xz.width.max(xz.height).max(yz.width).max(yz.height);
                Ok([
                    micrograph_list::thumbnail(&xz, side),
                    micrograph_list::thumbnail(&yz, side),
                ])
            });
            self.jobs.ortho.start(key, job);
        }
    }
}
