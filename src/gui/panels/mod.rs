//! The panels around the viewer. Each owns its state and returns Actions that
//! `gui::commands` handles: [`toolbar`], [`side`], [`status`], [`help`],
//! [`micrograph_list`], [`models`], [`training`], [`analysis`] (with the half-maps'
//! crefDenoiser and their signal / noise per shell, [`halfmap_shells`]), [`contrast`],
//! [`picking`].

pub mod analysis;
pub mod contrast;
pub mod cref;
pub mod halfmap_shells;
pub mod help;
pub mod micrograph_list;
pub mod models;
pub mod nt2c;
pub mod picking;
pub mod side;
pub mod simulate;
pub mod status;
pub mod toolbar;
pub mod training;
