//! Fuzz target `mrc`: see `feed::mrc`.
//!
//! `io::mrc` wraps its calls into the `mrc` crate in `catch_unwind` (a last resort it reports
//! as an error), but libFuzzer's panic hook aborts on every panic, caught or not; here a
//! silent hook takes its place, and a panic that escapes the parser still aborts (libfuzzer-sys
//! catches it around the target) and is saved as a crash.
#![no_main]

#[path = "feed.rs"]
mod feed;

static QUIET_PANICS: std::sync::Once = std::sync::Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    feed::mrc(data)
});
