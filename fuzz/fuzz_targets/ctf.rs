//! Fuzz target `ctf`: see `feed::ctf`.
#![no_main]

#[path = "feed.rs"]
mod feed;

libfuzzer_sys::fuzz_target!(|data: &[u8]| feed::ctf(data));
