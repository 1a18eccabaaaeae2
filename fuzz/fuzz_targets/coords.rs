//! Every particle-coordinate format in `io::coords`: RELION (strict, lenient, coordinate-file
//! index), Topaz, EMAN `.box`, crYOLO `.cbox` and `.coords`.
#![no_main]

use cryolens::io::coords;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = coords::parse_relion(&text, "mic.mrc");
    let _ = coords::parse_relion_lenient(&text, "mic.mrc");
    let _ = coords::parse_relion_index(&text);
    let _ = coords::parse_topaz(&text);
    let _ = coords::parse_eman_box(&text);
    let _ = coords::parse_cbox(&text);
    let _ = coords::parse_cryolo_coords(&text);
});
