//! The micrograph simulator and what is built on it: `physics` checks `cryolens simulate`
//! against physics known independently; `nt2c` runs Noise-Transfer2Clean end to end on a
//! crop of a real micrograph (one test binary for both, to keep CI's link time down).

#[path = "../common/mod.rs"]
mod common;
mod nt2c;
mod physics;
