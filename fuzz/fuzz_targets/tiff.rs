//! TIFF images and stacks: `io::tiff::read_bytes`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cryolens::io::tiff::read_bytes(data);
});
