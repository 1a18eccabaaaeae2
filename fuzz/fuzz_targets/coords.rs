//! Fuzz target `coords`: see `feed::coords`.
#![no_main]

#[path = "feed.rs"]
mod feed;

libfuzzer_sys::fuzz_target!(|data: &[u8]| feed::coords(data));
