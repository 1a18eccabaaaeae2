//! STAR files: `io::star::parse` and `parse_lenient`, then every block's values read back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(file) = cryolens::io::star::parse(&text) {
        let _ = cryolens::io::star::to_string(&file, &cryolens::io::star::WriteOptions::relion());
    }
    if let Ok((file, _warnings)) = cryolens::io::star::parse_lenient(&text) {
        let _ = cryolens::io::star::to_string(&file, &cryolens::io::star::WriteOptions::relion());
    }
});
