//! Our own hostile corpus: damaged and hostile files, made at test time (deterministic, in a
//! temporary folder), each run through every CLI command that reads that kind of file with
//! the built binary. Every run must end cleanly: no panic (exit 101 or "panicked"), not
//! killed by a signal, a non-zero exit with exactly one `error: ` line of printable characters
//! of at most [`MAX_LINE`] characters, and a peak memory (`ru_maxrss` of that one child,
//! through `wait4`) of at most [`MAX_RSS_KB`].
//!
//! Cases that fail only because of work owned elsewhere are listed in [`KNOWN_OPEN`] with the
//! reason; the test reports them but does not fail on them.
//!
//! Run with `cargo test --release --test hostile -- --nocapture` to see the counts, with
//! `HOSTILE_SHOW=1` set to see every error line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cryolens::image::{Image, Volume};

/// Longest accepted error line, in characters.
const MAX_LINE: usize = 400;
/// Peak resident memory allowed for one command on a small hostile file (200 MB).
const MAX_RSS_KB: i64 = 200 * 1024;
/// A command still running after this long is killed and counted as a failure (a hang).
const TIMEOUT: Duration = Duration::from_secs(60);

/// (case, command) pairs that fail only because of another helper's open work, with why.
/// Entries are removed once that work is merged.
const KNOWN_OPEN: &[(&str, &str, &str)] = &[];

/// Cases that are odd but valid input: a command may succeed on them (an empty coordinate file
/// is a micrograph without picks; `x y` lines are e2helixboxer segments; a `nan` Topaz score
/// is no score; a 1×N image can be denoised).
const MAY_SUCCEED: &[&str] = &[
    "one_by_n.mrc",
    "n_by_one.mrc",
    "topaz_nan_score.txt",
    "eman_missing.box",
    "empty.star",
    "empty.txt",
    "empty.box",
];

/// What a corpus file is, which decides the commands it goes through.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A micrograph, stack or volume (MRC or TIFF).
    Image,
    /// A coordinate file (any format of `io::coords`).
    Coords,
    /// A picking session (`cryolens_session.json`).
    Session,
    /// A trained model (`.safetensors` with its `.json`).
    Model,
}

struct Case {
    name: String,
    path: PathBuf,
    kind: Kind,
}

// ---------------------------------------------------------------------------------------------
// Corpus

/// A little-endian MRC2014 header with the `MAP ` stamp.
fn mrc_header(nx: i32, ny: i32, nz: i32, mode: i32, nsymbt: i32) -> Vec<u8> {
    let mut h = vec![0u8; 1024];
    let mut put = |off: usize, v: i32| h[off..off + 4].copy_from_slice(&v.to_le_bytes());
    put(0, nx);
    put(4, ny);
    put(8, nz);
    put(12, mode);
    put(28, nx);
    put(32, ny);
    put(36, nz);
    put(64, 1);
    put(68, 2);
    put(72, 3);
    put(92, nsymbt);
    put(108, 20141);
    h[208..212].copy_from_slice(b"MAP ");
    h[212..216].copy_from_slice(&[0x44, 0x44, 0, 0]);
    h
}

fn mode_bytes(mode: i32) -> usize {
    match mode {
        0 => 1,
        1 | 6 | 12 => 2,
        3 => 4,
        4 => 8,
        _ => 4,
    }
}

/// A float32 MRC (mode 2) of `nx × ny × nz` with these values.
fn mrc_f32(nx: i32, ny: i32, nz: i32, values: impl Fn(usize) -> f32) -> Vec<u8> {
    let mut b = mrc_header(nx, ny, nz, 2, 0);
    let n = (nx * ny * nz) as usize;
    for i in 0..n {
        b.extend(values(i).to_le_bytes());
    }
    b
}

/// A TIFF (little-endian, one IFD, one strip) with these (tag, type, value) entries and the
/// pixel bytes after the IFD. Entry 273 (StripOffsets) is filled in.
fn tiff_with(entries: &[(u16, u16, u32)], pixels: &[u8]) -> Vec<u8> {
    let mut entries = entries.to_vec();
    entries.sort_by_key(|e| e.0);
    let data_at = 8 + 2 + entries.len() as u32 * 12 + 4;
    let mut b = b"II*\0".to_vec();
    b.extend(8u32.to_le_bytes());
    b.extend((entries.len() as u16).to_le_bytes());
    for (tag, ty, v) in entries {
        let v = if tag == 273 { data_at } else { v };
        b.extend(tag.to_le_bytes());
        b.extend(ty.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        if ty == 3 {
            b.extend((v as u16).to_le_bytes());
            b.extend([0, 0]);
        } else {
            b.extend(v.to_le_bytes());
        }
    }
    b.extend(0u32.to_le_bytes());
    b.extend_from_slice(pixels);
    b
}

/// A grey TIFF: width, height, bits per sample, sample format (1 uint, 3 float), the strip
/// byte count it states (true or a lie) and the pixel bytes it holds.
fn grey_tiff(w: u32, h: u32, bits: u32, format: u32, strip: u32, pixels: &[u8]) -> Vec<u8> {
    let entries = [
        (256, 4, w),
        (257, 4, h),
        (258, 3, bits),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 0),
        (277, 3, 1),
        (278, 4, h),
        (279, 4, strip),
        (339, 3, format),
    ];
    tiff_with(&entries, pixels)
}

/// Deterministic pseudo-random bytes (xorshift).
fn garbage(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

/// Builds every case in `dir`.
fn corpus(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name: &str, bytes: &[u8], kind: Kind| {
        let path = write(dir, name, bytes);
        cases.push(Case {
            name: name.to_string(),
            path,
            kind,
        });
    };
    use Kind::*;

    // MRC: truncated data in every mode we read, unsupported modes, lying headers.
    for mode in [0, 1, 2, 6, 12] {
        let mut b = mrc_header(64, 64, 1, mode, 0);
        b.extend(garbage(64 * 64 * mode_bytes(mode) / 2, 7));
        add(&format!("trunc_mode{mode}.mrc"), &b, Image);
    }
    for mode in [3, 4, 7, 99] {
        let mut b = mrc_header(16, 16, 1, mode, 0);
        b.extend(garbage(16 * 16 * mode_bytes(mode), 3));
        add(&format!("unsupported_mode{mode}.mrc"), &b, Image);
    }
    // Mode 101 (4-bit packed, read since it is supported) cut short: 64 × 64 needs 2048 bytes.
    let mut b = mrc_header(64, 64, 1, 101, 0);
    b.extend(garbage(1000, 7));
    add("trunc_mode101.mrc", &b, Image);
    add("negative_dims.mrc", &mrc_header(-5, 16, 1, 2, 0), Image);
    add("zero_dims.mrc", &mrc_header(0, 0, 0, 2, 0), Image);
    let mut b = mrc_header(65536, 65536, 65536, 2, 0);
    b.extend([0u8; 64]);
    add("huge_dims.mrc", &b, Image);
    let mut b = mrc_header(40000, 40000, 1, 2, 0);
    b.extend([0u8; 64]);
    add("huge_dims_2d.mrc", &b, Image);
    let mut b = mrc_header(16, 16, 1, 2, i32::MAX);
    b.extend([0u8; 1024]);
    add("huge_nsymbt.mrc", &b, Image);
    let mut b = mrc_header(16, 16, 1, 2, -1024);
    b.extend([0u8; 1024]);
    add("negative_nsymbt.mrc", &b, Image);
    let mut b = mrc_header(16, 16, 1, 2, 4096);
    b.extend([0u8; 1024]);
    add("wrong_nsymbt.mrc", &b, Image);
    add("header_only.mrc", &mrc_header(16, 16, 1, 2, 0), Image);
    add("short.mrc", &garbage(100, 5), Image);
    add("garbage.mrc", &garbage(5000, 9), Image);
    add("gzip.mrc", &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], Image);
    add("empty.mrc", &[], Image);
    // Valid headers with hostile values or shapes.
    let nan_some = |i: usize| {
        if i.is_multiple_of(7) {
            f32::NAN
        } else {
            i as f32
        }
    };
    add("nan_pixels.mrc", &mrc_f32(64, 64, 1, nan_some), Image);
    add("all_nan.mrc", &mrc_f32(32, 32, 1, |_| f32::NAN), Image);
    let inf_some = |i: usize| {
        if i.is_multiple_of(5) {
            f32::INFINITY
        } else {
            1.0
        }
    };
    add("inf_pixels.mrc", &mrc_f32(32, 32, 1, inf_some), Image);
    add("max_pixels.mrc", &mrc_f32(32, 32, 1, |_| f32::MAX), Image);
    add("constant.mrc", &mrc_f32(32, 32, 1, |_| 3.0), Image);
    add("one_by_one.mrc", &mrc_f32(1, 1, 1, |_| 1.0), Image);
    add("one_by_n.mrc", &mrc_f32(1, 64, 1, |i| i as f32), Image);
    add("n_by_one.mrc", &mrc_f32(64, 1, 1, |i| i as f32), Image);
    add("nan_volume.mrc", &mrc_f32(8, 8, 8, nan_some), Image);

    // TIFF: truncated, lying, a small deflate bomb, unsupported sample formats.
    for (name, tiff) in [
        ("trunc.tif", grey_tiff(64, 64, 8, 1, 4096, &[1; 100])),
        ("huge_dims.tif", grey_tiff(40000, 20000, 8, 1, 16, &[0; 16])),
        ("float8.tif", grey_tiff(4, 4, 8, 3, 16, &[0; 16])),
        ("bits12.tif", grey_tiff(4, 4, 12, 1, 24, &[0; 24])),
    ] {
        add(name, &tiff, Image);
    }
    add("tiff_magic_only.tif", b"II*\0", Image);
    add("garbage.tif", &garbage(3000, 11), Image);
    add("empty.tif", &[], Image);
    add("deflate_bomb.tif", &deflate_bomb(4096, 4104), Image);
    let mut nan_tiff = Vec::new();
    for i in 0..16 * 16usize {
        let v: f32 = if i.is_multiple_of(3) { f32::NAN } else { 1.0 };
        nan_tiff.extend(v.to_le_bytes());
    }
    add(
        "nan_pixels.tif",
        &grey_tiff(16, 16, 32, 3, 1024, &nan_tiff),
        Image,
    );

    // STAR and coordinate files.
    add("no_loop.star", b"data_\n_rlnCoordinateX 1\n", Coords);
    add(
        "duplicate_labels.star",
        b"data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateX\n1 2\n",
        Coords,
    );
    let mut many = b"data_\nloop_\n".to_vec();
    for i in 0..100_000 {
        many.extend(format!("_rlnLabel{i}\n").as_bytes());
    }
    add("many_labels.star", &many, Coords);
    let mut huge = b"data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n".to_vec();
    huge.extend(vec![b'7'; 5_000_000]);
    huge.extend(b"x 1\n");
    add("huge_token.star", &huge, Coords);
    let mut huge_label = b"data_\nloop_\n_".to_vec();
    huge_label.extend(vec![b'a'; 2_000_000]);
    huge_label.extend(b" 1\n");
    add("huge_label.star", &huge_label, Coords);
    add(
        "nul_bytes.star",
        b"data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1\0\0\0 2\n",
        Coords,
    );
    add(
        "missing_columns.star",
        b"data_\nloop_\n_rlnCoordinateX\n_rlnAnglePsi\n1 2\n",
        Coords,
    );
    add(
        "non_numeric.star",
        b"data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 two\n",
        Coords,
    );
    add(
        "inf_coords.star",
        b"data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\ninf 2\n",
        Coords,
    );
    add(
        "inf_score.star",
        b"data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnAutopickFigureOfMerit\n1 2 inf\n",
        Coords,
    );
    add("binary.star", &garbage(4000, 13), Coords);
    add(
        "topaz_inf.txt",
        b"image_name\tx_coord\ty_coord\tscore\nm\tinf\t2\t0.5\n",
        Coords,
    );
    add(
        "topaz_nan_score.txt",
        b"image_name\tx_coord\ty_coord\tscore\nm\t1\t2\tnan\n",
        Coords,
    );
    add(
        "topaz_missing.txt",
        b"image_name\tx_coord\ty_coord\nm\t1\n",
        Coords,
    );
    add("topaz_binary.txt", &garbage(3000, 17), Coords);
    add("eman_inf.box", b"1\t2\tinf\t100\n", Coords);
    add("eman_nan.box", b"nan 2 100 100\n", Coords);
    add("eman_missing.box", b"1 2\n", Coords);
    add("eman_binary.box", &garbage(3000, 19), Coords);
    let cbox_head = "data_cryolo\n\nloop_\n_CoordinateX\n_CoordinateY\n_CoordinateZ\n_Width\n\
                     _Height\n_Depth\n_EstWidth\n_EstHeight\n_Confidence\n_NumBoxes\n_Angle\n";
    add(
        "cbox_inf.cbox",
        format!("{cbox_head}inf 2 <NA> 100 100 <NA> <NA> <NA> 0.5 <NA> <NA>\n").as_bytes(),
        Coords,
    );
    add(
        "cbox_inf_conf.cbox",
        format!("{cbox_head}1 2 <NA> 100 100 <NA> <NA> <NA> inf <NA> <NA>\n").as_bytes(),
        Coords,
    );
    add(
        "cbox_missing.cbox",
        format!("{cbox_head}1 2\n").as_bytes(),
        Coords,
    );
    add("cbox_binary.cbox", &garbage(3000, 23), Coords);
    add("cryolo_inf.coords", b"1 inf\n", Coords);
    add("cryolo_nan_z.coords", b"1 2 nan\n", Coords);
    add("cryolo_missing.coords", b"1\n", Coords);
    add("cryolo_binary.coords", &garbage(3000, 29), Coords);
    add("empty.star", b"", Coords);
    add("empty.txt", b"", Coords);
    add("empty.box", b"", Coords);

    // Sessions and models.
    add(
        "cryolens_session.json",
        b"{\"version\": 1, \"micro",
        Session,
    );
    add("session_wrong.json", b"[1, 2, 3]", Session);
    add("session_binary.json", &garbage(2000, 31), Session);
    add("session_empty.json", b"", Session);
    add("damaged.safetensors", &garbage(500, 37), Model);
    write(dir, "damaged.json", b"{\"format\": ");
    let mut st = 1_000_000_000u64.to_le_bytes().to_vec();
    st.extend(b"{}");
    add("lying_header.safetensors", &st, Model);
    write(dir, "lying_header.json", b"{}");
    add("no_json.safetensors", b"\x08\0\0\0\0\0\0\0{}      ", Model);
    add("empty.safetensors", b"", Model);
    write(dir, "empty.json", b"");

    // A folder where a file is expected.
    let sub = dir.join("a_folder.mrc");
    std::fs::create_dir_all(&sub).unwrap();
    cases.push(Case {
        name: "a_folder.mrc".into(),
        path: sub.clone(),
        kind: Image,
    });
    cases.push(Case {
        name: "a_folder.star".into(),
        path: {
            let p = dir.join("a_folder.star");
            std::fs::create_dir_all(&p).unwrap();
            p
        },
        kind: Coords,
    });
    cases
}

/// A deflate-compressed 8-bit TIFF of `w × h` zeros: a few kB that decode to `w · h` bytes
/// (and 4× that as float).
fn deflate_bomb(w: u32, h: u32) -> Vec<u8> {
    use tiff::encoder::{Compression, DeflateLevel, TiffEncoder, colortype};
    let mut out = std::io::Cursor::new(Vec::new());
    let zeros = vec![0u8; (w * h) as usize];
    TiffEncoder::new(&mut out)
        .unwrap()
        .with_compression(Compression::Deflate(DeflateLevel::Best))
        .write_image::<colortype::Gray8>(w, h, &zeros)
        .unwrap();
    out.into_inner()
}

// ---------------------------------------------------------------------------------------------
// Running

/// What one command did.
struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    stderr: String,
    max_rss_kb: i64,
    timed_out: bool,
}

/// Runs the binary with `args`, its output to files, and waits for exactly this child with
/// `wait4` to read its own peak memory.
fn run(args: &[String], scratch: &Path) -> Outcome {
    let err_path = scratch.join("stderr.txt");
    let child = Command::new(env!("CARGO_BIN_EXE_cryolens"))
        .args(args)
        .current_dir(scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .env("RUST_BACKTRACE", "0")
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        // SAFETY: `status` and `usage` are valid for writes; `pid` is our own child, waited
        // for only here (the `Child` handle is never waited on).
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if started.elapsed() > TIMEOUT && !timed_out {
            timed_out = true;
            // SAFETY: sending a signal to our own child process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(child);
    let stderr = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()).into_owned();
    Outcome {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        stderr,
        max_rss_kb: usage.ru_maxrss,
        timed_out,
    }
}

/// Why an outcome is not acceptable, as a failure class and a detail; `None` when it is.
/// The error line must name `file` (its file name).
fn judge(o: &Outcome, case: &Case) -> Option<(&'static str, String)> {
    let first = |s: &str| s.chars().take(300).collect::<String>();
    if o.timed_out {
        return Some(("hang", format!("killed after {TIMEOUT:?}")));
    }
    if o.stderr.contains("panicked") || o.code == Some(101) {
        return Some(("panic", first(&o.stderr)));
    }
    if let Some(s) = o.signal {
        return Some(("signal", format!("killed by signal {s}")));
    }
    if o.max_rss_kb > MAX_RSS_KB {
        return Some(("memory", format!("peak {} MB", o.max_rss_kb / 1024)));
    }
    if o.code == Some(0) {
        if MAY_SUCCEED.contains(&case.name.as_str()) {
            return None;
        }
        return Some(("accepted", "exit 0 on a hostile file".into()));
    }
    let errors: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    if errors.len() != 1 {
        return Some((
            "error-count",
            format!("{} `error: ` lines: {}", errors.len(), first(&o.stderr)),
        ));
    }
    let line = errors[0];
    if line.chars().count() > MAX_LINE {
        return Some(("long-line", format!("{} chars", line.chars().count())));
    }
    if line.chars().any(|c| c.is_control()) {
        return Some(("unprintable", format!("{line:?}")));
    }
    // A model is named by its `.safetensors` or by the `.json` beside it.
    let stem = case
        .name
        .rsplit_once('.')
        .map_or(case.name.as_str(), |(s, _)| s);
    let named = line.contains(&case.name) || (case.kind == Kind::Model && line.contains(stem));
    if !named {
        return Some(("unnamed-file", line.to_string()));
    }
    None
}

/// The command lines a case goes through. `good` is a valid 64×64 micrograph with a pixel
/// size, `out` an output folder.
fn commands(
    case: &Case,
    good: &Path,
    good_map: &Path,
    out: &Path,
) -> Vec<(&'static str, Vec<String>)> {
    let s = |p: &Path| p.display().to_string();
    let f = s(&case.path);
    let o = |name: &str| s(&out.join(name));
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match case.kind {
        Kind::Image => vec![
            (
                "denoise",
                v(&[
                    "denoise",
                    "--model",
                    "affine",
                    "--device",
                    "cpu",
                    "-o",
                    &o("d"),
                    &f,
                ]),
            ),
            ("analyze", v(&["analyze", "--even", &f, "--odd", &s(good)])),
            ("analyze-split", v(&["analyze", "--split-counts", &f])),
            (
                "merge",
                v(&[
                    "merge",
                    &f,
                    &s(good),
                    "--cutoff-angstrom",
                    "20",
                    "--width-angstrom",
                    "5",
                    "-o",
                    &o("m.mrc"),
                ]),
            ),
            ("fsc", v(&["fsc", &f, &f])),
            (
                "cref",
                v(&[
                    "cref",
                    &f,
                    &f,
                    "--epochs",
                    "1",
                    "--patch",
                    "32",
                    "--patches-per-epoch",
                    "1",
                    "--device",
                    "cpu",
                    "-o",
                    &o("c.mrc"),
                ]),
            ),
            (
                "train",
                v(&[
                    "train",
                    "--even",
                    &f,
                    "--odd",
                    &f,
                    "--epochs",
                    "1",
                    "--crop",
                    "32",
                    "--batch",
                    "1",
                    "--steps-per-epoch",
                    "1",
                    "--device",
                    "cpu",
                    "-o",
                    &o("t.safetensors"),
                ]),
            ),
            (
                "train-3d",
                v(&[
                    "train-3d",
                    "--even",
                    &f,
                    "--odd",
                    &f,
                    "--arch",
                    "unet-3d-tiny",
                    "--epochs",
                    "1",
                    "--crop",
                    "32",
                    "--steps-per-epoch",
                    "1",
                    "--device",
                    "cpu",
                    "-o",
                    &o("t3.safetensors"),
                ]),
            ),
        ],
        Kind::Coords => ["relion", "topaz", "eman", "cryolo"]
            .into_iter()
            .map(|to| {
                let name: &'static str = match to {
                    "relion" => "coords-relion",
                    "topaz" => "coords-topaz",
                    "eman" => "coords-eman",
                    _ => "coords-cryolo",
                };
                let args = v(&[
                    "coords",
                    "convert",
                    "--to",
                    to,
                    "--box-size",
                    "64",
                    "-o",
                    &o("c"),
                    &f,
                ]);
                (name, args)
            })
            .collect(),
        Kind::Model => vec![
            (
                "denoise-model",
                v(&[
                    "denoise",
                    "--model",
                    &f,
                    "--device",
                    "cpu",
                    "-o",
                    &o("d"),
                    &s(good),
                ]),
            ),
            (
                "cref-model",
                v(&[
                    "cref",
                    &s(good_map),
                    &s(good_map),
                    "--model",
                    &f,
                    "--device",
                    "cpu",
                    "-o",
                    &o("c.mrc"),
                ]),
            ),
        ],
        Kind::Session => Vec::new(),
    }
}

#[test]
fn hostile_corpus_gives_one_clear_error_line_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let corpus_dir = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus_dir).unwrap();
    let cases = corpus(&corpus_dir);
    let good = dir.path().join("good.mrc");
    let image = Image::new(64, 64, (0..64 * 64).map(|i| (i % 13) as f32).collect())
        .unwrap()
        .with_pixel_size(Some(1.5));
    cryolens::io::mrc::write_image(&good, &image).unwrap();
    let good_map = dir.path().join("good_map.mrc");
    let map = Volume {
        width: 32,
        height: 32,
        depth: 32,
        data: (0..32 * 32 * 32).map(|i| (i % 17) as f32).collect(),
        pixel_size_angstrom: Some(2.0),
    };
    cryolens::io::mrc::write_volume(&good_map, &map).unwrap();

    let mut runs = 0usize;
    let mut failures: Vec<(String, &'static str, &'static str, String)> = Vec::new();
    let mut known = 0usize;
    let mut peak_kb = 0i64;
    // `HOSTILE_SHOW=1` prints every command's error line (to review the wording).
    let show = std::env::var_os("HOSTILE_SHOW").is_some();
    for case in &cases {
        let out = dir.path().join("out");
        for (command, args) in commands(case, &good, &good_map, &out) {
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).unwrap();
            runs += 1;
            let outcome = run(&args, dir.path());
            peak_kb = peak_kb.max(outcome.max_rss_kb);
            if show {
                let line = outcome.stderr.lines().find(|l| l.starts_with("error: "));
                println!(
                    "{} / {command}: {}",
                    case.name,
                    line.unwrap_or("(no error)")
                );
            }
            if let Some((class, detail)) = judge(&outcome, case) {
                if KNOWN_OPEN
                    .iter()
                    .any(|(c, cmd, _)| *c == case.name && *cmd == command)
                {
                    known += 1;
                    continue;
                }
                failures.push((case.name.clone(), command, class, detail));
            }
        }
        if case.kind == Kind::Session {
            runs += 1;
            match cryolens::picking::PickSession::load(&case.path) {
                Ok(_) => failures.push((case.name.clone(), "session-load", "accepted", "".into())),
                Err(e) => {
                    let line = cryolens::errors::error_line(&e.to_string());
                    if line.chars().count() > MAX_LINE || line.contains('\n') {
                        failures.push((case.name.clone(), "session-load", "long-line", line));
                    }
                }
            }
        }
    }
    let mut by_class: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &failures {
        *by_class.entry(f.2).or_default() += 1;
    }
    println!(
        "hostile corpus: {} cases, {runs} runs, {} failures {by_class:?}, {known} known open, \
         largest peak memory {} MB",
        cases.len(),
        failures.len(),
        peak_kb / 1024
    );
    for (case, command, class, detail) in &failures {
        println!("FAIL {case} / {command}: {class}: {detail}");
    }
    assert!(
        failures.is_empty(),
        "{} failures (see above)",
        failures.len()
    );
}

/// The shared error formatter: one line, printable, cut, duplicates removed.
#[test]
fn error_line_is_one_printable_line() {
    let f = cryolens::errors::error_line;
    assert_eq!(f("a.mrc: a.mrc: bad"), "error: a.mrc: bad");
    assert_eq!(f("x: no such file: no such file"), "error: x: no such file");
    let nul = f("bad value `a\0b\nc`");
    assert_eq!(nul, "error: bad value `a\\0b\\nc`");
    let long = f(&format!(
        "f.star: token `{}` is bad (fix it)",
        "7".repeat(5_000_000)
    ));
    assert!(long.chars().count() <= MAX_LINE, "{}", long.len());
    assert!(long.ends_with("(fix it)"), "{long}");
}
