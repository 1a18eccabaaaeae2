//! Fuzz target `model_json`: see `feed_models::model_json`.
#![no_main]

#[path = "../../fuzz_targets/feed.rs"]
mod feed;
#[path = "feed_models.rs"]
mod feed_models;

libfuzzer_sys::fuzz_target!(|data: &[u8]| feed_models::model_json(data));
