//! `cryolens slurm`: an sbatch script for a SLURM array job whose task K runs a batch command
//! with `--shard K/N` ([`super::batch`]), so a dataset is spread over the nodes SLURM gives;
//! resubmitting after failures redoes only what the manifest does not record as done.
//!
//! The script is plain bash: run by hand with `SLURM_ARRAY_TASK_ID=K bash SCRIPT` it does
//! what array task K does, which is how it is checked without a cluster.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;

/// `cryolens slurm` options; the batch command follows `--`.
#[derive(clap::Args, Debug)]
pub struct SlurmArgs {
    /// Number of array tasks N (the inputs are split into N shards).
    #[arg(long)]
    pub array: usize,
    /// SLURM partition (`#SBATCH --partition`).
    #[arg(long)]
    pub partition: Option<String>,
    /// GPUs per task (`#SBATCH --gpus-per-task`).
    #[arg(long)]
    pub gpus: Option<u32>,
    /// CPU cores per task (`#SBATCH --cpus-per-task`; also the number of compute threads).
    #[arg(long)]
    pub cpus: Option<u32>,
    /// Memory per task, in SLURM's syntax (`16G`).
    #[arg(long)]
    pub mem: Option<String>,
    /// Time limit per task, in SLURM's syntax (`02:00:00`).
    #[arg(long)]
    pub time: Option<String>,
    /// The script to write.
    #[arg(long)]
    pub script: PathBuf,
    /// Submit it with `sbatch` and print the job id.
    #[arg(long)]
    pub submit: bool,
    /// The batch command and its options, after `--`: `denoise --model unet -o out/ mics/*.mrc`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// The batch commands that take `--shard`.
const SHARDED: [&str; 4] = ["denoise", "analyze", "screen", "merge"];

/// `s` quoted for bash (single quotes; a `'` inside becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Checks that `command` is a batch command that takes `--shard`, valid as written, and
/// without a `--shard` of its own.
fn check_command(command: &[String]) -> Result<()> {
    let Some(first) = command.first() else {
        bail!(
            "no batch command after `--` (write e.g. `-- denoise --model unet -o out/ mics/*.mrc`)"
        );
    };
    if !SHARDED.contains(&first.as_str()) {
        bail!(
            "`{first}` cannot be sharded (batch commands that can: {})",
            SHARDED.join(", ")
        );
    }
    if command
        .iter()
        .any(|a| a == "--shard" || a.starts_with("--shard="))
    {
        bail!("the command has its own --shard; leave it out (each array task adds --shard K/N)");
    }
    let argv = std::iter::once("cryolens".to_string()).chain(command.iter().cloned());
    super::Cli::try_parse_from(argv).map_err(|e| {
        let first_line = e.to_string().lines().next().unwrap_or("").to_string();
        anyhow::anyhow!("the batch command is not valid: {first_line}")
    })?;
    Ok(())
}

/// The sbatch script for `args` (see the module docs): `#SBATCH` lines, then the command run
/// from `workdir` with `exe`, with `--shard ${SLURM_ARRAY_TASK_ID}/N` added.
pub fn script_text(args: &SlurmArgs, exe: &Path, workdir: &Path) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let job = format!(
        "cryolens-{}",
        args.command.first().map_or("batch", String::as_str)
    );
    s += &format!(
        "#SBATCH --job-name={job}\n#SBATCH --array=1-{}\n",
        args.array
    );
    if let Some(p) = &args.partition {
        s += &format!("#SBATCH --partition={p}\n");
    }
    if let Some(g) = args.gpus {
        s += &format!("#SBATCH --gpus-per-task={g}\n");
    }
    if let Some(c) = args.cpus {
        s += &format!("#SBATCH --cpus-per-task={c}\n");
    }
    if let Some(m) = &args.mem {
        s += &format!("#SBATCH --mem={m}\n");
    }
    if let Some(t) = &args.time {
        s += &format!("#SBATCH --time={t}\n");
    }
    s += &format!(
        "#SBATCH --output={}\n",
        workdir.join(format!("{job}-%A_%a.out")).display()
    );
    s += &format!(
        "# Written by Cryolens {} (`cryolens slurm`). Submit with `sbatch {}`; check one task\n\
         # without a cluster with `SLURM_ARRAY_TASK_ID=1 bash {}`. Resubmitting redoes only\n\
         # what the output folder's cryolens_manifest.jsonl does not record as done.\n",
        env!("CARGO_PKG_VERSION"),
        args.script.display(),
        args.script.display()
    );
    s += "set -euo pipefail\n";
    s += &format!(
        ": \"${{SLURM_ARRAY_TASK_ID:?set SLURM_ARRAY_TASK_ID to the task (1..{})}}\"\n",
        args.array
    );
    if args.cpus.is_some() {
        s += "export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n";
    }
    s += &format!("cd {}\n", shell_quote(&workdir.to_string_lossy()));
    let quoted: Vec<String> = args.command.iter().map(|a| shell_quote(a)).collect();
    s += &format!(
        "exec {} {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\"\n",
        shell_quote(&exe.to_string_lossy()),
        quoted.join(" "),
        args.array
    );
    s
}

/// Runs `cryolens slurm`: checks the command, writes the script (atomically, executable),
/// and with `--submit` runs `sbatch --parsable` and prints the job id.
///
/// # Errors
/// A zero `--array`, a command that cannot be sharded or is not valid, an unwritable script,
/// no `sbatch` or a refused submission.
pub fn run(args: &SlurmArgs) -> Result<()> {
    if args.array == 0 {
        bail!("--array 0: give the number of array tasks (1 or more)");
    }
    check_command(&args.command)?;
    let exe = std::env::current_exe().context("finding the cryolens executable")?;
    let workdir = std::env::current_dir().context("reading the current folder")?;
    let text = script_text(args, &exe, &workdir);
    crate::io::atomic::write_atomically(&args.script, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&args.script, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("{}: cannot make it executable", args.script.display()))?;
    }
    println!(
        "wrote {} ({} array tasks; test one with `SLURM_ARRAY_TASK_ID=1 bash {}`)",
        args.script.display(),
        args.array,
        args.script.display()
    );
    if args.command.first().is_some_and(|c| c == "screen") {
        println!(
            "when every task has finished, run the screen command once more without --shard: it folds the tasks' tables into screening.csv and decides"
        );
    }
    if args.submit {
        let out = std::process::Command::new("sbatch")
            .arg("--parsable")
            .arg(&args.script)
            .output()
            .map_err(|e| {
                anyhow::anyhow!(
                    "sbatch: cannot run it ({e}; submit from a SLURM login node, or run the \
                     script by hand)"
                )
            })?;
        if !out.status.success() {
            bail!(
                "sbatch refused {}: {} (check the partition and limits)",
                args.script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let id = String::from_utf8_lossy(&out.stdout);
        println!(
            "submitted job {}",
            id.trim().split(';').next().unwrap_or("")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_spaces_and_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
