//! Fuzz target `star`: see `feed::star`.
#![no_main]

#[path = "feed.rs"]
mod feed;

libfuzzer_sys::fuzz_target!(|data: &[u8]| feed::star(data));
