//! Topaz wheels (zip): `models::install::extract_weights` from the input's bytes into a
//! temporary folder.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = common::temp_file("topaz_em.whl", data);
    let _ = cryolens::models::install::extract_weights(&input.path, &input.dir.path().join("out"));
});
