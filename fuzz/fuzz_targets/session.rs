//! Picking session files (JSON): `picking::PickSession::from_json`, and a loaded session
//! written back.
#![no_main]

use cryolens::picking::PickSession;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(session) = PickSession::from_json(&text, std::path::Path::new("session.json")) {
        let _ = session.to_json();
    }
});
