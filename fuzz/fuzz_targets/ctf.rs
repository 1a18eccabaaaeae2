//! CTF files: RELION CTF STAR (`ctf::parse_ctf_star`) and CTFFIND output (`ctf::parse_ctffind`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = cryolens::ctf::parse_ctf_star(&text);
    let _ = cryolens::ctf::parse_ctffind(&text);
});
