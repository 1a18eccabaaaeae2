//! `cryolens slurm` on a real SLURM: Debian's slurm-wlm and munge started as a one-node
//! cluster on localhost by `tests/slurm/cluster.sh`. A 3-task array denoises six micrographs
//! in shards; cancelled mid-run with `scancel` and resubmitted, it redoes only what the
//! manifest does not record as done; the outputs equal one local run's.
//!
//! Where SLURM cannot start (not installed, no permission) the test says why and passes,
//! unless `CRYOLENS_REQUIRE_SLURM=1` (set by `.ci/run`), which makes that a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::cryolens;

/// A running one-node cluster; stopped when dropped.
struct Cluster {
    dir: PathBuf,
    conf: String,
}

impl Cluster {
    /// Starts the cluster in `dir`, or says why it cannot (`None`).
    fn start(dir: &Path) -> Option<Cluster> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/cluster.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir)
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        match stdout.lines().find_map(|l| l.strip_prefix("SLURM_CONF=")) {
            Some(conf) if out.status.success() => Some(Cluster {
                dir: dir.to_path_buf(),
                conf: conf.to_string(),
            }),
            _ => {
                let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
                assert!(
                    std::env::var_os("CRYOLENS_REQUIRE_SLURM").is_none(),
                    "CRYOLENS_REQUIRE_SLURM is set but SLURM did not start: {why}"
                );
                eprintln!("skipping the SLURM test: {why}");
                None
            }
        }
    }

    /// A SLURM client command (`squeue`, `scancel`, `sbatch`) for this cluster.
    fn command(&self, name: &str) -> Command {
        let mut c = Command::new(name);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// The states of job `id`'s array tasks still queued or running, e.g. `["R", "PD"]`.
    fn states(&self, id: &str) -> Vec<String> {
        let out = self
            .command("squeue")
            .args(["-h", "-r", "-j", id, "-o", "%i %t"])
            .output()
            .expect("squeue runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
            .collect()
    }

    /// Waits until job `id` has left the queue.
    fn wait_done(&self, id: &str, limit: Duration) {
        let start = Instant::now();
        while !self.states(id).is_empty() {
            assert!(
                start.elapsed() < limit,
                "job {id} still queued after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/cluster.sh");
        let _ = Command::new("bash")
            .arg(&script)
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

/// The manifest's records as (input, output) pairs, in order.
fn manifest(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("cryolens_manifest.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON record a line");
            v["input"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// The batch command of the test, on the CPU.
const DENOISE: [&str; 5] = [
    "denoise",
    "--model",
    "cryolens-unet-small",
    "--device",
    "cpu",
];

fn mtime(p: &Path) -> SystemTime {
    p.metadata().and_then(|m| m.modified()).unwrap()
}

#[test]
fn a_slurm_array_denoises_in_shards_and_resubmitting_redoes_only_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cluster) = Cluster::start(&dir.path().join("cluster")) else {
        return;
    };
    // Six 512² micrographs cut from the bundled sample.
    let sample = cryolens::io::read_micrograph(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample.mrc"),
    )
    .unwrap();
    let work = dir.path().join("work");
    let inputs: Vec<PathBuf> = [(0, 0), (512, 0), (0, 512), (512, 512), (256, 256), (256, 0)]
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| {
            let path = work.join(format!("mics/mic_{i}.mrc"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            cryolens::io::mrc::write_image(&path, &sample.crop(x, y, 512, 512)).unwrap();
            path
        })
        .collect();
    let out = work.join("out");
    // Each task asks for every core, so the node runs the tasks one after another.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let submit = cryolens()
        .current_dir(&work)
        .env("SLURM_CONF", &cluster.conf)
        .args(["slurm", "--array", "3", "--cpus", &cores.to_string()])
        .args(["--script", "job.sh", "--submit", "--"])
        .args(DENOISE)
        .arg("-o")
        .arg(&out)
        .args(&inputs)
        .output()
        .unwrap();
    common::assert_success(&submit);
    let stdout = String::from_utf8_lossy(&submit.stdout);
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("submitted job "))
        .unwrap_or_else(|| panic!("no job id in: {stdout}"))
        .trim()
        .to_string();

    // Cancel the whole job once task 1 is done and task 2 runs.
    let start = Instant::now();
    loop {
        let states = cluster.states(&id);
        if manifest(&out).len() >= 2 && states.iter().any(|s| s == "R") {
            break;
        }
        assert!(
            !states.is_empty(),
            "the job ended before it could be cancelled (manifest: {:?})",
            manifest(&out)
        );
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "task 1 took over 90 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let cancel = cluster.command("scancel").arg(&id).output().unwrap();
    assert!(cancel.status.success(), "{cancel:?}");
    cluster.wait_done(&id, Duration::from_secs(30));
    let done_before = manifest(&out);
    assert!(
        (2..6).contains(&done_before.len()),
        "cancelled mid-run, yet {} of 6 done",
        done_before.len()
    );
    let stamps: Vec<(PathBuf, SystemTime)> = done_before
        .iter()
        .map(|input| {
            let name = Path::new(input).file_name().unwrap();
            let p = out.join(name);
            let t = mtime(&p);
            (p, t)
        })
        .collect();

    // Resubmitted: the rest is done, what was finished is not redone.
    let again = cluster
        .command("sbatch")
        .current_dir(&work)
        .args(["--parsable", "job.sh"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    let id2 = String::from_utf8_lossy(&again.stdout).trim().to_string();
    cluster.wait_done(&id2, Duration::from_secs(120));
    let done = manifest(&out);
    let mut sorted = done.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 6, "every micrograph done once: {done:?}");
    assert_eq!(done.len(), 6, "no micrograph recorded twice: {done:?}");
    for (p, t) in &stamps {
        assert_eq!(mtime(p), *t, "{} was redone", p.display());
    }
    let log = std::fs::read_to_string(work.join(format!("cryolens-denoise-{id2}_1.out"))).unwrap();
    assert!(log.contains("already done"), "{log}");

    // The same as one local run.
    let local = work.join("local");
    let run = cryolens()
        .args(DENOISE)
        .arg("-o")
        .arg(&local)
        .args(&inputs)
        .output()
        .unwrap();
    common::assert_success(&run);
    for input in &inputs {
        let name = input.file_name().unwrap();
        let a = cryolens::io::read_micrograph(&local.join(name)).unwrap();
        let b = cryolens::io::read_micrograph(&out.join(name)).unwrap();
        assert_eq!(a.data, b.data, "{}", name.to_string_lossy());
    }
}
