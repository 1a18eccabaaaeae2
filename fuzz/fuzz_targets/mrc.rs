//! MRC header and data: `io::mrc::read_bytes`, and from a file `io::read` and the
//! memory-mapped reader (`io::mapped::MappedVolume`, first and last section).
#![no_main]

#[path = "common.rs"]
mod common;

use cryolens::io::mapped::{MappedVolume, VolumeSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cryolens::io::mrc::read_bytes(data);
    let input = common::temp_file("input.mrc", data);
    let _ = cryolens::io::read(&input.path);
    if let Ok(m) = MappedVolume::open(&input.path) {
        let (depth, _, _) = m.shape();
        if depth > 0 {
            let _ = m.section(0);
            let _ = m.section(depth - 1);
        }
    }
});
