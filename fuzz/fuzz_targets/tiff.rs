//! Fuzz target `tiff`: see `feed::tiff`.
#![no_main]

#[path = "feed.rs"]
mod feed;

libfuzzer_sys::fuzz_target!(|data: &[u8]| feed::tiff(data));
