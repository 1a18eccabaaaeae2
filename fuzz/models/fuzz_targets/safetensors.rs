//! Fuzz target `safetensors`: see `feed_models::safetensors`.
#![no_main]

#[path = "../../fuzz_targets/feed.rs"]
mod feed;
#[path = "feed_models.rs"]
mod feed_models;

libfuzzer_sys::fuzz_target!(|data: &[u8]| feed_models::safetensors(data));
