//! Every input the fuzzers (`fuzz/`, cargo-fuzz) found to crash a parser, committed under
//! `tests/data/fuzz-regressions/<target>/`, and every hand-made seed (`fuzz/seeds/<target>/`)
//! is fed to the same parser calls as its fuzz target (`fuzz/fuzz_targets/feed.rs`,
//! `fuzz/models/fuzz_targets/feed_models.rs`); each must return (an error is fine), never
//! panic. This runs on stable in CI; the fuzzers themselves need nightly (README, "Fuzzing").

#[path = "../fuzz/fuzz_targets/feed.rs"]
mod feed;
#[path = "../fuzz/models/fuzz_targets/feed_models.rs"]
mod feed_models;

use std::path::Path;

/// Every fuzz target, by name, with what it does with one input.
fn targets() -> impl Iterator<Item = (&'static str, feed::Feed)> {
    feed::TARGETS.into_iter().chain(feed_models::TARGETS)
}

/// The committed regression inputs and seeds of `target`, sorted.
fn inputs(target: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = ["tests/data/fuzz-regressions", "fuzz/seeds"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(root.join(dir).join(target)).ok())
        .flat_map(|d| d.filter_map(|e| e.ok().map(|e| e.path())))
        .collect();
    files.retain(|p| p.is_file());
    files.sort();
    files
}

#[test]
fn every_regression_folder_is_a_fuzz_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    // The folder exists once a crash input is committed.
    let entries = std::fs::read_dir(&root).into_iter().flatten();
    for entry in entries {
        let entry = entry.unwrap();
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            targets().any(|(t, _)| t == name),
            "tests/data/fuzz-regressions/{name} names no fuzz target"
        );
    }
}

#[test]
fn fuzz_regressions_do_not_panic() {
    let mut fed = 0;
    for (target, feed) in targets() {
        for path in inputs(target) {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| feed(&data));
            assert!(outcome.is_ok(), "{target}: {} panics", path.display());
            fed += 1;
        }
    }
    assert!(fed >= 20, "only {fed} inputs found");
}

/// The seeds are files the parsers accept (so fuzzing starts from valid inputs and mutates
/// them), read to what `fuzz/seeds/make_seeds.py` wrote.
#[test]
fn seeds_are_valid_inputs() {
    let seed = |rel: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds")
                .join(rel),
        )
        .unwrap()
    };
    for name in ["f32_4x3", "i8_stack", "i16_ext", "u16", "f16"] {
        let (_, v) = cryolens::io::mrc::read_bytes(&seed(&format!("mrc/{name}.mrc")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(v.data.iter().all(|x| x.is_finite()), "{name}");
    }
    // Mode 101 (4-bit packed) is read; mode 4 (complex) is refused by design: the error
    // path's seed.
    let (_, v) = cryolens::io::mrc::read_bytes(&seed("mrc/packed4.mrc")).unwrap();
    assert_eq!(v.data, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let err = cryolens::io::mrc::read_bytes(&seed("mrc/complex.mrc")).unwrap_err();
    assert!(err.to_string().contains("mode 4 "), "{err}");
    let (_, v) = cryolens::io::mrc::read_bytes(&seed("mrc/f32_4x3.mrc")).unwrap();
    assert_eq!((v.width, v.height, v.depth), (4, 3, 1));
    assert_eq!(v.data[5], 5.0 * 0.25 - 1.0);
    let (_, v) = cryolens::io::tiff::read_bytes(&seed("tiff/f32_stack.tif")).unwrap();
    assert_eq!((v.width, v.height, v.depth), (2, 2, 2));
    let (_, v) = cryolens::io::tiff::read_bytes(&seed("tiff/i16.tif")).unwrap();
    assert_eq!(v.data, vec![-3.0, 0.0, 3.0, 9.0]);
    let text = String::from_utf8(seed("session/two.json")).unwrap();
    let session = cryolens::picking::PickSession::from_json(&text, Path::new("two.json")).unwrap();
    assert_eq!(session.micrographs.len(), 2);
    let ctf = cryolens::ctf::parse_ctffind(&String::from_utf8(seed("ctf/ctffind.txt")).unwrap());
    assert_eq!(ctf.unwrap().len(), 1);
}
