//! Fuzz target `session`: see `feed::session`.
#![no_main]

#[path = "feed.rs"]
mod feed;

libfuzzer_sys::fuzz_target!(|data: &[u8]| feed::session(data));
