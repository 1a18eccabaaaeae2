//! The parsing modules of Cryolens, compiled from the main crate's own files (`../src`) as a
//! library named `cryolens` with the same module paths, so the fuzz targets and
//! `tests/fuzz_regressions.rs` call the same functions under the same names. Only these
//! modules and their few dependencies are built (no GUI, GPU, network or burn), which keeps the
//! instrumented build short.

#![allow(dead_code, unused_imports)]

#[path = "../src/ctf/mod.rs"]
pub mod ctf;
#[path = "../src/image.rs"]
pub mod image;
#[path = "../src/io/mod.rs"]
pub mod io;
#[path = "../src/paths.rs"]
pub mod paths;
#[path = "../src/picking/mod.rs"]
pub mod picking;

#[path = "../src/errors.rs"]
pub mod errors;
#[path = "../src/sampling.rs"]
pub mod sampling;
