//! Fuzz target `topaz_sav`: see `feed_models::topaz_sav`.
#![no_main]

#[path = "../../fuzz_targets/feed.rs"]
mod feed;
#[path = "feed_models.rs"]
mod feed_models;

libfuzzer_sys::fuzz_target!(|data: &[u8]| feed_models::topaz_sav(data));
