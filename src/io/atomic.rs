//! The one way Cryolens writes a file a user keeps (picks, sessions, models, checkpoints,
//! exports, analysis tables): into a temporary file in the destination's folder, fsync, then
//! rename over the destination, so a reader (or a crash) sees either the old file or the
//! complete new one, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

/// Writes `bytes` to `path` atomically (temporary file in the same folder, fsync, rename).
///
/// # Errors
/// Any I/O failure; the temporary file is removed and `path` is left as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    let mut tmp = temp_in(&dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| anyhow!("renaming into {}: {}", path.display(), e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// Writes `path` atomically through a writer that needs a file name of its own (a library
/// that saves to a path, such as a tensor recorder or a zip writer): `write` is called with a
/// temporary path in the same folder, which is then fsynced and renamed to `path`.
///
/// # Errors
/// What `write` returns, or any I/O failure; the temporary file is removed and `path` is left
/// as it was.
pub fn write_atomically_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = write(&tmp).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    } else {
        sync_dir(&dir);
    }
    result
}

/// Streams a large file to `path` atomically (an MRC volume, a denoised micrograph): `write`
/// fills a buffered temporary file in the same folder, which is then fsynced and renamed to
/// `path`, so a crash or kill mid-write leaves the old file (or none), never a torn one.
///
/// # Errors
/// What `write` returns, or any I/O failure; the temporary file is removed and `path` is left
/// as it was.
pub fn write_atomically_streaming(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = parent_dir(path);
    let tmp = temp_in(&dir)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp);
    write(&mut out)?;
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(&dir);
    Ok(())
}

/// A temporary file in `dir` with the permissions a plain `File::create` gives (0666 less the
/// umask: readable by the group and others on most systems), not `tempfile`'s private 0600,
/// so that outputs on a shared facility disk stay readable by colleagues after the rename.
fn temp_in(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files written atomically get the same permissions as a plain `File::create` there.
    #[cfg(unix)]
    #[test]
    fn written_files_are_as_readable_as_created_ones() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("probe");
        std::fs::File::create(&probe).unwrap();
        let plain = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
        let a = dir.path().join("a");
        write_atomically(&a, b"x").unwrap();
        let b = dir.path().join("b");
        write_atomically_streaming(&b, |w| w.write_all(b"y")).unwrap();
        for p in [a, b] {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, plain, "{}", p.display());
        }
    }

    #[test]
    fn replaces_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("picks.star");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new contents").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_writer_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, b"kept").unwrap();
        let err = write_atomically_with(&path, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(anyhow!("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomically_with(&path, |tmp| Ok(std::fs::write(tmp, b"new")?)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn streaming_writer_replaces_whole_file_or_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.mrc");
        write_atomically_streaming(&path, |w| w.write_all(b"old")).unwrap();
        let failed = write_atomically_streaming(&path, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("killed"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomically_streaming(&path, |w| w.write_all(b"new map")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new map");
    }
}
