//! Fuzz target `wheel`: see `feed::wheel`.
#![no_main]

#[path = "feed.rs"]
mod feed;

libfuzzer_sys::fuzz_target!(|data: &[u8]| feed::wheel(data));
