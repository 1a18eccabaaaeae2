//! Particle coordinates on the real files in `../shared/data/coords/` and the ucsf-1142
//! autopick STAR: every file read, written and read back with identical values; conventions
//! (EMAN corner ↔ centre, RELION figure of merit, Topaz score) and exact RELION output pinned;
//! malformed input gives errors with line numbers. STAR syntax itself is `tests/star.rs`.

mod common;

use std::path::Path;

use common::coord_files::{SHORT_ROWS, coords_dir, files, ucsf_star};
use common::data;
use cryolens::io::coords::{self, CoordFormat, CoordinateFileEntry, MicrographPicks, Pick};
use cryolens::io::star;

/// |a − b| within 1e-9 px (the corner ↔ centre arithmetic of box formats may move the last bit).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

/// Asserts equal picks, x and y within [`close`]; returns how many x/y were not bit-identical.
fn assert_picks_close(a: &[Pick], b: &[Pick], what: &str) -> usize {
    assert_eq!(a.len(), b.len(), "{what}: pick counts");
    let mut inexact = 0;
    for (i, (p, q)) in a.iter().zip(b).enumerate() {
        inexact += usize::from(p.x != q.x) + usize::from(p.y != q.y);
        assert!(
            close(p.x, q.x) && close(p.y, q.y),
            "{what}: pick {i}: {p:?} vs {q:?}"
        );
        assert_eq!(
            (p.z, p.score, p.size),
            (q.z, q.score, q.size),
            "{what}: pick {i}"
        );
    }
    inexact
}

/// Which STAR files under coords/ are coordinate files (the rest must say why not).
fn relion_round_trip(path: &Path) -> Option<usize> {
    let groups = match coords::read_relion(path) {
        Ok(g) => g,
        Err(_) if path.ends_with(SHORT_ROWS) => {
            let (g, warnings) = coords::read_relion_lenient(path).unwrap();
            assert!(!warnings.is_empty());
            g
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("no loop with `_rlnCoordinateX` and `_rlnCoordinateY`"),
                "{msg}"
            );
            return None;
        }
    };
    // Several micrographs in one particle-style file.
    let text = coords::format_relion_particles(&groups).unwrap();
    let back = coords::parse_relion(&text, "unused").unwrap();
    assert_eq!(back, groups, "{}: particles round trip", path.display());
    // One coordinate file per micrograph.
    for g in &groups {
        let text = coords::format_relion(&g.picks).unwrap();
        let back = coords::parse_relion(&text, &g.micrograph).unwrap();
        assert_eq!(
            back,
            vec![g.clone()],
            "{}: per-micrograph round trip",
            path.display()
        );
    }
    Some(groups.iter().map(|g| g.picks.len()).sum())
}

#[test]
fn every_real_coordinate_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut counts = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    let mut inexact = 0;
    let mut stars = files(&coords_dir(), &["star"]);
    stars.push(ucsf_star());
    for path in &stars {
        let entry = counts.entry("star").or_default();
        if let Some(n) = relion_round_trip(path) {
            entry.0 += 1;
            entry.1 += n;
        }
    }
    // Through files too, with the generic reader.
    let ucsf = coords::read(&ucsf_star()).unwrap();
    let out = dir.path().join("Ucsf_stack_1142_DW_manualpick.star");
    coords::write_relion(&out, &ucsf[0].picks).unwrap();
    assert_eq!(coords::read(&out).unwrap(), ucsf);

    for path in files(&coords_dir(), &["txt"]) {
        let groups = coords::read_topaz(&path).unwrap();
        let out = dir.path().join("particles.txt");
        coords::write_topaz(&out, &groups).unwrap();
        assert_eq!(
            coords::read_topaz(&out).unwrap(),
            groups,
            "{}",
            path.display()
        );
        let e = counts.entry("txt").or_default();
        e.0 += 1;
        e.1 += groups.iter().map(|g| g.picks.len()).sum::<usize>();
    }
    for path in files(&coords_dir(), &["box"]) {
        let picks = coords::read_eman_box(&path).unwrap();
        let out = dir.path().join("a.box");
        coords::write_eman_box(&out, &picks, None).unwrap();
        inexact += assert_picks_close(
            &coords::read_eman_box(&out).unwrap(),
            &picks,
            &path.display().to_string(),
        );
        let e = counts.entry("box").or_default();
        e.0 += 1;
        e.1 += picks.len();
    }
    for path in files(&coords_dir(), &["cbox"]) {
        let picks = coords::read_cbox(&path).unwrap();
        let out = dir.path().join("a.cbox");
        coords::write_cbox(&out, &picks, None).unwrap();
        let back = coords::read_cbox(&out).unwrap();
        inexact += assert_picks_close(&back, &picks, &path.display().to_string());
        let f: Vec<_> = back.iter().map(|p| p.filament).collect();
        assert_eq!(f, picks.iter().map(|p| p.filament).collect::<Vec<_>>());
        let e = counts.entry("cbox").or_default();
        e.0 += 1;
        e.1 += picks.len();
    }
    for path in files(&coords_dir(), &["coords"]) {
        let picks = coords::read_cryolo_coords(&path).unwrap();
        let out = dir.path().join("a.coords");
        coords::write_cryolo_coords(&out, &picks).unwrap();
        assert_eq!(
            coords::read_cryolo_coords(&out).unwrap(),
            picks,
            "{}",
            path.display()
        );
        // And through RELION (centre-based, so exact).
        let text = coords::format_relion(&picks).unwrap();
        assert_eq!(
            coords::parse_relion(&text, "m")
                .unwrap()
                .first()
                .map_or(&[][..], |g| &g.picks[..]),
            &picks[..]
        );
        let e = counts.entry("coords").or_default();
        e.0 += 1;
        e.1 += picks.len();
    }
    eprintln!(
        "coordinate files round-tripped (files, picks): {counts:?}; corner-based x/y not bit-identical: {inexact}"
    );
    assert_eq!(inexact, 0, "corner ↔ centre changed some values");
    assert_eq!(counts["txt"], (1, 1500));
    assert_eq!(counts["box"].0, 1);
    assert_eq!(counts["cbox"].0, 12);
    assert_eq!(counts["coords"].0, 8);
    assert!(counts["star"].0 >= 14, "{counts:?}");
}

#[test]
fn ucsf_autopick_has_45_picks_with_figure_of_merit_inside_the_micrograph() {
    let groups = coords::read_relion(&ucsf_star()).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].micrograph, "Ucsf_stack_1142_DW");
    let picks = &groups[0].picks;
    assert_eq!(picks.len(), 45);
    let (w, h) = (959.0, 927.0);
    for p in picks {
        assert!((0.0..w).contains(&p.x) && (0.0..h).contains(&p.y), "{p:?}");
        let s = p.score.expect("figure of merit");
        assert!(s.is_finite() && s > 0.0 && s < 1.0, "{p:?}");
        assert_eq!(p.z, None);
    }
    assert_eq!(picks[0].x, 839.125024);
    assert_eq!(picks[0].y, 19.979167);
    assert_eq!(picks[0].score, Some(0.624705));
    // The micrograph is 4× binned: full-size coordinates are 4× larger, and back.
    let mut full = groups[0].clone();
    full.scale(4.0);
    assert_eq!(full.picks[0].x, 4.0 * 839.125024);
    full.scale(0.25);
    assert_eq!(full.picks[0].x, 839.125024);
    // The picks lie inside the real micrograph.
    let mic = cryolens::io::read_micrograph(&data("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc"))
        .unwrap();
    assert_eq!((mic.width, mic.height), (959, 927));
}

#[test]
fn relion_export_is_exact() {
    let picks = [
        Pick {
            score: Some(0.9),
            ..Pick::new(100.5, 200.25)
        },
        Pick::new(1024.0, 7.125),
    ];
    assert_eq!(
        coords::format_relion(&picks).unwrap(),
        "\n# version 30001\n\ndata_\n\nloop_\n\
         _rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnAutopickFigureOfMerit #3\n \
         100.500000  200.250000     0.900000\n\
         1024.000000    7.125000  -999.000000\n\n"
    );
    // Without scores: two columns. RELION's -999 reads back as "no score".
    let plain = [Pick::new(1.0, 2.0), Pick::new(30.0, 4.5)];
    assert_eq!(
        coords::format_relion(&plain).unwrap(),
        "\n# version 30001\n\ndata_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n \
         1.000000  2.000000\n30.000000  4.500000\n\n"
    );
    let back = coords::parse_relion(&coords::format_relion(&picks).unwrap(), "m").unwrap();
    assert_eq!(back[0].picks, picks);

    // The index RELION ≥ 3.2 reads.
    let entries = [CoordinateFileEntry {
        micrograph: "MotionCorr/job002/mic1.mrc".into(),
        coordinates: "ManualPick/job004/mic1_manualpick.star".into(),
    }];
    let text = coords::format_relion_index(&entries).unwrap();
    assert_eq!(
        text,
        "\n# version 30001\n\ndata_coordinate_files\n\nloop_\n\
         _rlnMicrographName #1\n_rlnMicrographCoordinates #2\n\
         MotionCorr/job002/mic1.mrc  ManualPick/job004/mic1_manualpick.star\n\n"
    );
    assert_eq!(coords::parse_relion_index(&text).unwrap(), entries);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manualpick.star");
    coords::write_relion_index(&path, &entries).unwrap();
    assert_eq!(coords::read_relion_index(&path).unwrap(), entries);

    // A whole project through the index.
    assert_eq!(
        coords::relion_coordinate_file_name("MotionCorr/job002/mic1.mrc", "manualpick"),
        "mic1_manualpick.star"
    );
    let project = dir.path();
    std::fs::create_dir_all(project.join("ManualPick/job004")).unwrap();
    coords::write_relion(&project.join(&entries[0].coordinates), &picks).unwrap();
    let all = coords::read_relion_project(&path, project).unwrap();
    assert_eq!(
        all,
        vec![MicrographPicks {
            micrograph: "MotionCorr/job002/mic1.mrc".into(),
            picks: picks.to_vec()
        }]
    );
}

#[test]
fn relion_31_and_5_particle_files_group_by_micrograph() {
    let g =
        coords::read_relion(&coords_dir().join("cryodrgn/relion31.6opticsgroups.star")).unwrap();
    assert!(!g.is_empty());
    let g5 = coords::read_relion(&coords_dir().join("cryodrgn/relion5.star")).unwrap();
    assert!(g5.iter().all(|m| m.micrograph.ends_with(".mrc")));
    assert_eq!(g5[0].picks[0].x, 1736.0);
    assert_eq!(g5[0].picks[0].score, Some(16.459581));
    let t =
        coords::read_relion(&coords_dir().join("topaz_empiar10025_coords/particles.star")).unwrap();
    let topaz =
        coords::read_topaz(&coords_dir().join("topaz_empiar10025_coords/particles.txt")).unwrap();
    assert_eq!(t.len(), topaz.len());
    assert_eq!(t.iter().map(|m| m.picks.len()).sum::<usize>(), 1500);
    // The RELION particles carry the same centres as Topaz's list (names differ by ".mrc").
    assert_eq!(t[0].picks[0].x, 6924.0);
    assert_eq!(topaz[0].picks[0].x, 6924.0);
    assert_eq!(format!("{}.mrc", topaz[0].micrograph), t[0].micrograph);
    // 3D: rlnCoordinateZ and helical tube ids.
    let (s, warnings) = coords::read_relion_lenient(&coords_dir().join(SHORT_ROWS)).unwrap();
    assert_eq!(s[0].picks.len(), 6);
    assert_eq!(
        (s[0].picks[0].x, s[0].picks[0].y, s[0].picks[0].z),
        (408.432686, 283.668316, Some(28.962962))
    );
    // 6 short rows, and 6 non-integral helical tube ids read as missing.
    assert_eq!(warnings.len(), 12, "{warnings:?}");
    assert!(s[0].picks.iter().all(|p| p.filament.is_none()));
    let p =
        coords::read_relion(&coords_dir().join("cryolobm/test_priors2star_data/particles.star"))
            .unwrap();
    assert_eq!(p[0].picks[0].filament, Some(1));
    assert_eq!(p[0].picks[0].z, Some(14.481481));
}

#[test]
fn eman_box_corner_and_centre() {
    // A 100-px box whose lower-left corner is (10, 20) is centred at (60, 70).
    let picks = coords::parse_eman_box("10\t20\t100\t100\n0 0 50 40\n").unwrap();
    assert_eq!(
        (picks[0].x, picks[0].y, picks[0].size),
        (60.0, 70.0, Some((100.0, 100.0)))
    );
    assert_eq!((picks[1].x, picks[1].y), (25.0, 20.0));
    assert_eq!(
        coords::format_eman_box(&picks, None).unwrap(),
        "10\t20\t100\t100\n0\t0\t50\t40\n"
    );
    // Without a size in the pick, the given box size is used.
    assert_eq!(
        coords::format_eman_box(&[Pick::new(64.0, 32.5)], Some(64.0)).unwrap(),
        "32\t0.5\t64\t64\n"
    );
    assert!(coords::format_eman_box(&[Pick::new(1.0, 1.0)], None).is_err());
    // The e2helixboxer file: 2-column centres, one filament per #helix.
    let seg = coords::read_eman_box(
        &coords_dir().join("cryolobm/segmented_fila_data/segmented_filament.box"),
    )
    .unwrap();
    assert_eq!(seg[0].x, 29.4025);
    assert_eq!(seg[0].size, Some((26.0, 26.0)));
    assert_eq!(seg[0].filament, Some(0));
    assert_eq!(seg.last().unwrap().filament, Some(2));
    // crYOLO .cbox is corner-based like EMAN.
    let c = coords::parse_cbox(
        &std::fs::read_to_string(
            coords_dir().join("napari_boxmanager/particle_cbox_2d/TcdA1-0018_frames_sum.cbox"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(c[0].x, 3700.3671875 + 110.0);
    assert_eq!(c[0].score, Some(0.6578449010848999));
    assert_eq!(c[0].z, None);
}

#[test]
fn topaz_with_and_without_score() {
    let with = "image_name\tx_coord\ty_coord\tscore\nmic1\t10\t20\t1.5\nmic2\t30\t40\t-0.25\nmic1\t5\t6\t0\n";
    let g = coords::parse_topaz(with).unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].micrograph, "mic1");
    assert_eq!(g[0].picks.len(), 2);
    assert_eq!(g[1].picks[0].score, Some(-0.25));
    let text = coords::format_topaz(&g).unwrap();
    assert_eq!(
        text,
        "image_name\tx_coord\ty_coord\tscore\nmic1\t10\t20\t1.5\nmic1\t5\t6\t0\nmic2\t30\t40\t-0.25\n"
    );
    let without = "image_name\tx_coord\ty_coord\nm\t1\t2\n";
    let g = coords::parse_topaz(without).unwrap();
    assert_eq!(
        g,
        vec![MicrographPicks {
            micrograph: "m".into(),
            picks: vec![Pick::new(1.0, 2.0)]
        }]
    );
    assert_eq!(coords::format_topaz(&g).unwrap(), without);
    let real =
        coords::read_topaz(&coords_dir().join("topaz_empiar10025_coords/particles.txt")).unwrap();
    assert_eq!(real.len(), 30);
    assert!(
        real.iter()
            .flat_map(|m| &m.picks)
            .all(|p| p.score.is_none())
    );
}

#[test]
fn flip_y_and_scale_are_explicit() {
    let mut m = MicrographPicks {
        micrograph: "m".into(),
        picks: vec![Pick::new(3.0, 0.0), Pick::new(4.0, 926.0)],
    };
    m.flip_y(927);
    assert_eq!((m.picks[0].y, m.picks[1].y), (926.0, 0.0));
    m.flip_y(927);
    assert_eq!((m.picks[0].y, m.picks[1].y), (0.0, 926.0));
    m.scale(2.0);
    assert_eq!(m.picks[1], Pick::new(8.0, 1852.0));
}

#[test]
fn malformed_coordinates_give_line_numbers() {
    let cases: Vec<(Result<(), coords::CoordsError>, usize, &str)> = vec![
        (
            coords::parse_topaz("image_name\tx_coord\ty_coord\nm\t1\t2\nm\tx\t3\n").map(drop),
            3,
            "x_coord `x`",
        ),
        (
            coords::parse_topaz("image_name\tx_coord\ty_coord\nm\t1\n").map(drop),
            2,
            "2 fields",
        ),
        (
            coords::parse_topaz("name\tx\ty\n").map(drop),
            1,
            "must name",
        ),
        (
            coords::parse_eman_box("1 2 3 4\n1 2 3\n").map(drop),
            2,
            "3 values",
        ),
        (
            coords::parse_eman_box("1 2 3 4\n\n1 2 nan 4\n").map(drop),
            3,
            "width `nan`",
        ),
        (
            coords::parse_cryolo_coords("1 2\n1 2 3 4 5\n").map(drop),
            2,
            "5 values",
        ),
        (
            coords::parse_cryolo_coords("1 2 3 1.5\n").map(drop),
            1,
            "not an integer",
        ),
        (
            coords::parse_cbox(
                "data_cryolo\nloop_\n_CoordinateX\n_CoordinateY\n_Width\n_Height\n1 2 3\n",
            )
            .map(drop),
            7,
            "row has 3 values",
        ),
        (
            coords::parse_relion(
                "data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 '2\n",
                "m",
            )
            .map(drop),
            5,
            "unterminated",
        ),
    ];
    for (r, line, words) in cases {
        let e = r.expect_err(words);
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.to_string().contains(words), "{e}");
        assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
    }
    // Values errors inside STAR loops name the line in the message.
    let e = coords::parse_cbox(
        "data_cryolo\nloop_\n_CoordinateX\n_CoordinateY\n_Width\n_Height\n1 2 3 4\n1 2 <NA> 4\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("row 2 (line 8)"), "{e}");
    let e = coords::parse_relion("data_optics\nloop_\n_rlnOpticsGroup\n1\n", "m").unwrap_err();
    assert!(e.to_string().contains("in blocks data_optics"), "{e}");
    // Non-finite values are refused on export.
    assert!(coords::format_relion(&[Pick::new(f64::NAN, 1.0)]).is_err());
    // Unknown extensions are refused by the generic reader.
    assert!(coords::read(Path::new("x.unknown")).is_err());
    assert_eq!(
        CoordFormat::from_path(Path::new("a/B.CBOX")),
        Some(CoordFormat::Cbox)
    );
}

/// Truncated and corrupted real files give errors or picks, never a panic.
#[test]
fn damaged_inputs_never_panic() {
    let mut paths = files(&coords_dir(), &["star", "cbox", "box", "coords", "txt"]);
    paths.push(ucsf_star());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut inputs = 0;
    for path in &paths {
        let bytes = std::fs::read(path).unwrap();
        let bytes = &bytes[..bytes.len().min(20_000)];
        for _ in 0..20 {
            let mut b = bytes.to_vec();
            if !b.is_empty() {
                b.truncate((next() as usize) % (b.len() + 1));
                for _ in 0..3 {
                    if b.is_empty() {
                        break;
                    }
                    let i = (next() as usize) % b.len();
                    b[i] = b" \t\n'\"#_0.-x;<>"[(next() as usize) % 14];
                }
            }
            let text = String::from_utf8_lossy(&b);
            let _ = star::parse(&text);
            let _ = star::parse_lenient(&text);
            let _ = coords::parse_relion(&text, "m");
            let _ = coords::parse_relion_lenient(&text, "m");
            let _ = coords::parse_relion_index(&text);
            let _ = coords::parse_topaz(&text);
            let _ = coords::parse_eman_box(&text);
            let _ = coords::parse_cbox(&text);
            let _ = coords::parse_cryolo_coords(&text);
            inputs += 1;
        }
    }
    assert!(inputs > 500);
}

#[test]
fn real_picks_survive_cryosparc_fractions_and_convert_to_relion() {
    // The real RELION autopick file of ucsf-1142 (959 × 927 px) written as cryoSPARC would
    // store it (fractions of (ny, nx) in f32), read back, then converted by the CLI.
    let groups = coords::read_relion(&ucsf_star()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cs = dir.path().join("J7_picked_particles.cs");
    coords::write_cryosparc_particles(&cs, &groups, |_| Some((927, 959))).unwrap();
    let back = coords::read(&cs).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].micrograph, groups[0].micrograph);
    assert_eq!(back[0].picks.len(), 45);
    for (p, q) in back[0].picks.iter().zip(&groups[0].picks) {
        assert!(
            (p.x - q.x).abs() < 1e-3 && (p.y - q.y).abs() < 1e-3,
            "{p:?} {q:?}"
        );
        // The figure of merit travels as cryoSPARC's NCC score (f32).
        assert!((p.score.unwrap() - q.score.unwrap()).abs() < 1e-6);
    }
    let out = dir.path().join("relion");
    let run = common::cryolens()
        .args(["coords", "convert", "--to", "relion", "--output"])
        .arg(&out)
        .arg(&cs)
        .output()
        .unwrap();
    common::assert_success(&run);
    let star = out.join("Ucsf_stack_1142_DW_manualpick.star");
    let converted = coords::read_relion(&star).unwrap();
    assert_eq!(converted[0].picks.len(), 45);
    assert!((converted[0].picks[0].x - 839.125024).abs() < 1e-3);

    // And on to cryoSPARC again: the import STAR, and the .cs with the micrograph's shape.
    let back_out = dir.path().join("cryosparc");
    let to_cryosparc = |shape: &str| {
        common::cryolens()
            .args(["coords", "convert", "--to", "cryosparc"])
            .args(["--micrograph-shape", shape, "--output"])
            .arg(&back_out)
            .arg(&star)
            .output()
            .unwrap()
    };
    common::assert_success(&to_cryosparc("959x927"));
    let particles = coords::read_relion(&back_out.join("particles.star")).unwrap();
    assert_eq!(particles[0].micrograph, "Ucsf_stack_1142_DW.mrc");
    let again = coords::read(&back_out.join("particles.cs")).unwrap();
    assert_eq!(again[0].picks.len(), 45);
    for (p, q) in again[0].picks.iter().zip(&groups[0].picks) {
        assert!(
            (p.x - q.x).abs() < 1e-3 && (p.y - q.y).abs() < 1e-3,
            "{p:?} {q:?}"
        );
    }
    let bad = to_cryosparc("959");
    common::assert_clear_failure(&bad, "COLUMNSxROWS");
}

#[test]
fn relion5_tomography_particles_convert_through_the_tomograms_star() {
    let dir = tempfile::tempdir().unwrap();
    let tomograms = dir.path().join("tomograms.star");
    std::fs::write(
        &tomograms,
        "data_global\nloop_\n_rlnTomoName\n_rlnTomoTiltSeriesPixelSize\n_rlnTomoTomogramBinning\n\
         _rlnTomoSizeX\n_rlnTomoSizeY\n_rlnTomoSizeZ\nTS_01 2.39 6.0 4092 4092 1392\n",
    )
    .unwrap();
    let particles = dir.path().join("particles.star");
    // Centred Å: the tomogram centre, and a particle 1446 tilt-series pixels left of it.
    std::fs::write(
        &particles,
        "data_particles\nloop_\n_rlnTomoName\n_rlnCenteredCoordinateXAngst\n\
         _rlnCenteredCoordinateYAngst\n_rlnCenteredCoordinateZAngst\n\
         TS_01 0.0 0.0 0.0\nTS_01 -3455.94 0.0 0.0\n",
    )
    .unwrap();
    let convert = |to: &str, out: &Path, input: &Path, with_tomograms: bool| {
        let mut c = common::cryolens();
        c.args(["coords", "convert", "--to", to, "--output"])
            .arg(out);
        if with_tomograms {
            c.arg("--tomograms").arg(&tomograms);
        }
        c.arg(input).output().unwrap()
    };
    let out = dir.path().join("relion");
    let run = convert("relion", &out, &particles, false);
    common::assert_clear_failure(&run, "--tomograms");
    let run = convert("relion", &out, &particles, true);
    common::assert_success(&run);
    let picks = &coords::read_relion(&out.join("TS_01_manualpick.star")).unwrap()[0].picks;
    // Voxels of the 6× binned reconstruction: the centre is (341, 341, 116).
    assert!((picks[0].x - 341.0).abs() < 1e-6 && (picks[0].z.unwrap() - 116.0).abs() < 1e-6);
    assert!((picks[1].x - 100.0).abs() < 1e-6, "{:?}", picks[1]);
    // And back to centred Å.
    let back = dir.path().join("relion5");
    let run = convert("relion5", &back, &out.join("TS_01_manualpick.star"), true);
    common::assert_success(&run);
    let t = coords::read_tomograms_star(&tomograms).unwrap();
    let again = coords::read_relion5_particles(&back.join("particles.star"), &t).unwrap();
    assert!((again[0].picks[1].x - 100.0).abs() < 1e-6);
}
