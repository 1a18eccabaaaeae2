//! The screening gallery: a folder written by `cryolens screen` opened as `cryolens DIR`,
//! thumbnails shown, curation keys (arrows, A, X, Ctrl+Z) autosaved into `screening.csv`,
//! and Enter opening the selected micrograph in the viewer.

use std::time::Duration;

use cryolens::gui::{CryolensApp, Source};
use cryolens::screen::ScreenTable;
use egui::{Key, Role, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::harness::{save_screenshot, setup, started_app, wait_for};

fn decisions(h: &Harness<'_, CryolensApp>) -> Vec<Option<String>> {
    let (g, _, _) = h.state().gallery();
    g.unwrap()
        .rows()
        .iter()
        .map(|r| r.decision.clone())
        .collect()
}

#[test]
fn gallery_curates_with_keys_and_saves_the_decisions() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let mics = dir.path().join("mics");
    std::fs::create_dir(&mics).unwrap();
    let ucsf = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc");
    for name in ["a.mrc", "b.mrc", "c.mrc"] {
        std::fs::copy(&ucsf, mics.join(name)).unwrap();
    }
    // The 4k exposure: particles in its thumbnail, SNR under it.
    std::fs::copy(
        ucsf.parent()
            .unwrap()
            .join("../fei-extended/fei-extended.mrc"),
        mics.join("d_fei.mrc"),
    )
    .unwrap();
    std::fs::write(mics.join("z_broken.mrc"), b"not an MRC file at all").unwrap();
    let out = dir.path().join("screening");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_cryolens"))
        .args([
            "screen",
            "--model",
            "cryolens-unet-small",
            "--device",
            "cpu",
        ])
        .arg("--no-denoised-snr")
        .arg(&mics)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!run.status.success(), "the broken file fails");

    let source = cryolens::gui::source_of(&[out.to_string_lossy().into_owned()]).unwrap();
    assert_eq!(source, Source::Screening(out.clone()));
    let mut h = started_app(
        source,
        dir.path(),
        Vec2::new(1200.0, 800.0),
        "the gallery and its session",
        |a| {
            let (g, open, textures) = a.gallery();
            open && g.is_some_and(|g| g.len() == 5)
                && a.session().micrographs.len() == 4
                && textures == 4
        },
    );
    let (g, _, _) = h.state().gallery();
    assert_eq!(g.unwrap().counts(), (4, 0, 1));

    // Right, A: b accepted. Right, X: c rejected; Ctrl+Z takes it back; X again.
    h.key_press(Key::ArrowRight);
    h.key_press(Key::A);
    h.key_press(Key::ArrowRight);
    h.key_press(Key::X);
    h.step();
    assert_eq!(
        decisions(&h),
        [
            None,
            Some("accept".into()),
            Some("reject".into()),
            None,
            None
        ]
    );
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(decisions(&h)[2], None);
    h.key_press(Key::X);
    h.step();
    let (g, _, _) = h.state().gallery();
    assert_eq!(g.unwrap().counts(), (3, 1, 1));

    // Autosaved: the table on disk holds the decisions.
    wait_for(
        &mut h,
        "the decisions to be saved",
        Duration::from_secs(30),
        |_| {
            ScreenTable::open(&out).is_ok_and(|t| {
                t.rows()
                    .iter()
                    .map(|r| r.decision.as_deref())
                    .collect::<Vec<_>>()
                    == [None, Some("accept"), Some("reject"), None, None]
            })
        },
    );
    // The exports follow the decisions: c leaves the accepted list for rejected.csv with the
    // gallery as its reason, beside the damaged file and its error.
    wait_for(
        &mut h,
        "the exports rewritten",
        Duration::from_secs(30),
        |_| {
            std::fs::read_to_string(out.join("accepted.txt"))
                .is_ok_and(|t| t.lines().count() == 3 && !t.contains("c.mrc"))
        },
    );
    let rejected = std::fs::read_to_string(out.join("rejected.csv")).unwrap();
    assert!(rejected.contains("c.mrc,gallery"), "{rejected}");
    assert!(rejected.contains("z_broken.mrc,\"error: "), "{rejected}");
    let star = cryolens::io::star::read(&out.join("accepted_micrographs.star")).unwrap();
    assert_eq!(star.block("micrographs").unwrap().len(), 3);
    if std::env::var_os("CRYOLENS_SAVE_SCREENSHOTS").is_some() {
        save_screenshot(&mut h, "gallery.png");
    }

    // Sorting by the raw SNR puts the only exposure with halves (fei) first and keeps the
    // selection on c.
    h.get_by_role_and_label(Role::ComboBox, "sort").click();
    h.run_steps(2);
    h.get_by_label("snr_raw_db").click();
    h.run_steps(2);
    let (g, _, _) = h.state().gallery();
    let g = g.unwrap();
    assert_eq!(g.sort, Some("snr_raw_db"));
    assert!(g.row_at(0).unwrap().micrograph.ends_with("d_fei.mrc"));
    assert!(
        g.row_at(g.selected())
            .unwrap()
            .micrograph
            .ends_with("c.mrc")
    );

    // Enter opens c in the viewer (the session keeps table order).
    h.key_press(Key::Enter);
    h.step();
    let (_, open, _) = h.state().gallery();
    assert!(!open, "Enter leaves the gallery");
    assert_eq!(h.state().session().current, 2);
    assert!(h.state().session().micrographs[2].path.ends_with("c.mrc"));
    // G comes back to it.
    h.key_press(Key::G);
    h.step();
    assert!(h.state().gallery().1);

    // The metrics as a table, filtered: only the rejected micrograph, then by name.
    h.get_by_label("table").click();
    h.run_steps(2);
    assert!(h.query_by_label("SNR raw (dB)").is_some());
    // Its name stands in the micrograph list and in the table.
    assert_eq!(h.query_all_by_label("d_fei.mrc").count(), 2);
    h.get_by_role_and_label(Role::ComboBox, "show").click();
    h.run_steps(2);
    h.get_by_label("rejected").click();
    h.run_steps(2);
    let (g, _, _) = h.state().gallery();
    assert_eq!(g.unwrap().len(), 1);
    assert!(g.unwrap().row_at(0).unwrap().micrograph.ends_with("c.mrc"));
    assert!(h.query_by_label("1 shown").is_some());
    if std::env::var_os("CRYOLENS_SAVE_SCREENSHOTS").is_some() {
        h.get_by_role_and_label(Role::ComboBox, "show").click();
        h.run_steps(2);
        h.get_by_label("all").click();
        h.run_steps(3);
        save_screenshot(&mut h, "gallery_table.png");
        h.get_by_role_and_label(Role::ComboBox, "show").click();
        h.run_steps(2);
        h.get_by_label("rejected").click();
        h.run_steps(2);
    }
    h.get_by_role_and_label(Role::ComboBox, "show").click();
    h.run_steps(2);
    h.get_by_label("all").click();
    h.run_steps(1);
    h.get_by_role_and_label(Role::TextInput, "name").click();
    h.run_steps(1);
    h.get_by_role_and_label(Role::TextInput, "name")
        .type_text("FEI");
    h.run_steps(2);
    let (g, _, _) = h.state().gallery();
    assert_eq!(g.unwrap().len(), 1);
    assert!(
        g.unwrap()
            .row_at(0)
            .unwrap()
            .micrograph
            .ends_with("d_fei.mrc")
    );
}
