//! `cryolens models install topaz`: unpack Topaz's pretrained denoisers from its wheel.
//!
//! Topaz's weights (GPL-3.0) are `topaz/pretrained/denoise/*.sav` inside the `topaz-em` wheel.
//! We obtain the wheel in one of three ways, in order: a wheel file the user already has
//! (`--wheel`), `pip download` when pip is present, or a plain HTTPS download from a Python
//! package index (`--index-url`, or pip's `PIP_INDEX_URL`) following the simple-index protocol
//! (PEP 503), with the file's SHA-256 checked when the index gives one. Files are written
//! atomically (temporary file, fsync, rename), so an interrupted install leaves nothing half
//! written. No Python runs at any later time: the `.sav` files are read in Rust.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};

use super::topaz3d::load_topaz3d;
use super::{ModelSpec, Topaz3dArch, TopazArch, load_topaz};
use crate::io::atomic::write_atomically;
use crate::jobs::Progress;

/// The Topaz release whose weights we read.
pub const TOPAZ_VERSION: &str = "0.3.20";
/// The Python distribution name.
pub const TOPAZ_PACKAGE: &str = "topaz-em";
/// The folder of denoising weights inside the wheel.
pub const WHEEL_WEIGHTS_PREFIX: &str = "topaz/pretrained/denoise/";

/// Where to get the wheel from.
#[derive(Clone, Debug, Default)]
pub struct WheelSource {
    /// A wheel file already on disk.
    pub wheel: Option<PathBuf>,
    /// A PEP 503 simple index to download from with HTTPS when pip is absent.
    pub index_url: Option<String>,
}

/// Installs Topaz's denoising weights into `dest` (normally [`crate::paths::topaz_dir`]) and returns
/// the files written. Existing files are replaced atomically.
///
/// # Errors
/// No way to obtain the wheel (no `--wheel`, no pip, no index URL), a failed download, a
/// corrupt wheel, or a wheel without denoising weights.
pub fn install_topaz(
    source: &WheelSource,
    dest: &Path,
    progress: &Progress,
) -> Result<Vec<PathBuf>> {
    progress.start(3, "locating the topaz-em wheel");
    let scratch = tempfile::tempdir().context("creating a temporary folder")?;
    let wheel = match &source.wheel {
        Some(w) => w.clone(),
        None => obtain_wheel(source.index_url.as_deref(), scratch.path(), progress)?,
    };
    progress.step();
    progress.set_message(format!("unpacking weights from {}", wheel.display()));
    let written = extract_weights(&wheel, dest)?;
    progress.step();
    progress.step();
    progress.set_message(format!(
        "installed {} Topaz models into {}",
        written.len(),
        dest.display()
    ));
    Ok(written)
}

fn obtain_wheel(index_url: Option<&str>, dir: &Path, progress: &Progress) -> Result<PathBuf> {
    let index = index_url
        .map(str::to_string)
        .or_else(|| std::env::var("PIP_INDEX_URL").ok());
    if index_url.is_none()
        && let Some(w) = pip_download(dir, progress)?
    {
        return Ok(w);
    }
    match index {
        Some(url) => https_download(&url, dir, progress),
        None => bail!(
            "pip was not found, so the {TOPAZ_PACKAGE}=={TOPAZ_VERSION} wheel cannot be fetched: install pip, \
             pass --wheel FILE (a downloaded topaz_em-{TOPAZ_VERSION}-py3-none-any.whl), or pass --index-url URL \
             (a Python package index in the simple format) to download it over HTTPS"
        ),
    }
}

/// Runs `pip download`; `Ok(None)` when no pip is available.
fn pip_download(dir: &Path, progress: &Progress) -> Result<Option<PathBuf>> {
    let spec = format!("{TOPAZ_PACKAGE}=={TOPAZ_VERSION}");
    let candidates: [(&str, &[&str]); 3] =
        [("python3", &["-m", "pip"]), ("pip3", &[]), ("pip", &[])];
    for (program, prefix) in candidates {
        let probe = Command::new(program).args(prefix).arg("--version").output();
        if !matches!(&probe, Ok(o) if o.status.success()) {
            continue;
        }
        progress.set_message(format!("pip download {spec}"));
        let out = Command::new(program)
            .args(prefix)
            .args(["download", "--no-deps", "--only-binary=:all:", "-d"])
            .arg(dir)
            .arg(&spec)
            .output()
            .with_context(|| format!("running {program} download"))?;
        if !out.status.success() {
            bail!(
                "pip download {spec} failed:\n{}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        return find_wheel(dir).map(Some);
    }
    Ok(None)
}

fn find_wheel(dir: &Path) -> Result<PathBuf> {
    std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| anyhow!("no wheel found in {} after download", dir.display()))
}

/// Downloads the wheel from a PEP 503 simple index: `{index}/topaz-em/` lists the files.
fn https_download(index_url: &str, dir: &Path, progress: &Progress) -> Result<PathBuf> {
    let page_url = format!("{}/{}/", index_url.trim_end_matches('/'), TOPAZ_PACKAGE);
    progress.set_message(format!("reading {page_url}"));
    let page = ureq::get(&page_url)
        .call()
        .with_context(|| format!("fetching {page_url}"))?
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading {page_url}"))?;
    let file_name = format!("topaz_em-{TOPAZ_VERSION}-py3-none-any.whl");
    let href = find_href(&page, &file_name)
        .ok_or_else(|| anyhow!("{page_url} does not list {file_name}"))?;
    let (url, sha256) = match href.split_once("#sha256=") {
        Some((u, h)) => (u.to_string(), Some(h.to_string())),
        None => (href.clone(), None),
    };
    let url = resolve_url(&page_url, &url);
    progress.set_message(format!("downloading {file_name}"));
    let mut bytes = Vec::new();
    ureq::get(&url)
        .call()
        .with_context(|| format!("downloading {url}"))?
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .reader()
        .read_to_end(&mut bytes)
        .with_context(|| format!("downloading {url}"))?;
    if let Some(expected) = sha256 {
        use sha2::Digest;
        let got = format!("{:x}", sha2::Sha256::digest(&bytes));
        if !got.eq_ignore_ascii_case(&expected) {
            bail!("checksum mismatch for {file_name}: index says {expected}, download has {got}");
        }
    }
    let path = dir.join(&file_name);
    write_atomically(&path, &bytes)?;
    Ok(path)
}

/// The `href` of the anchor whose target file name is `file_name` in a simple-index page.
fn find_href(page: &str, file_name: &str) -> Option<String> {
    page.split("href=\"").skip(1).find_map(|rest| {
        let href = &rest[..rest.find('"')?];
        let path = href.split('#').next().unwrap_or(href);
        (path.rsplit('/').next() == Some(file_name)).then(|| href.replace("&amp;", "&"))
    })
}

/// Resolves a possibly relative link against the page it came from.
fn resolve_url(page_url: &str, href: &str) -> String {
    if href.starts_with("http://") || href.starts_with("https://") {
        return href.to_string();
    }
    let scheme_end = page_url.find("://").map(|i| i + 3).unwrap_or(0);
    if let Some(rest) = href.strip_prefix('/') {
        let host_end = page_url[scheme_end..]
            .find('/')
            .map(|i| i + scheme_end)
            .unwrap_or(page_url.len());
        return format!("{}/{}", &page_url[..host_end], rest);
    }
    // relative: resolve "../" segments against the page's folder
    let mut base: Vec<&str> = page_url[scheme_end..]
        .trim_end_matches('/')
        .split('/')
        .collect();
    let mut parts = href.split('/').peekable();
    while parts.peek() == Some(&"..") {
        parts.next();
        if base.len() > 1 {
            base.pop();
        }
    }
    let tail: Vec<&str> = parts.collect();
    format!(
        "{}{}/{}",
        &page_url[..scheme_end],
        base.join("/"),
        tail.join("/")
    )
}

/// Largest weights file accepted from a wheel (Topaz's largest is 11.7 MB): bounds what a
/// damaged or hostile zip entry can make us allocate or write.
pub const MAX_WEIGHTS_BYTES: u64 = 256 * 1024 * 1024;

/// Extracts every `topaz/pretrained/denoise/*.sav` of `wheel` into `dest`, all or nothing:
/// each entry is read (at most [`MAX_WEIGHTS_BYTES`]) into a private staging folder and
/// loaded as the model it claims to be ([`validate_weights`]: every tensor present, shaped
/// for the architecture and finite) before any file is written to `dest`, each atomically.
///
/// # Errors
/// An unreadable or corrupt zip, an entry larger than the limit, a wheel holding no
/// denoising weights, or any weights file that does not load (then nothing is installed).
pub fn extract_weights(wheel: &Path, dest: &Path) -> Result<Vec<PathBuf>> {
    let file =
        std::fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a valid wheel (zip)", wheel.display()))?;
    let staging = tempfile::tempdir().context("creating a temporary folder")?;
    let mut staged = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| {
            anyhow!(
                "{}: zip entry {i} is unreadable: {e} (the wheel is damaged; download it again)",
                wheel.display()
            )
        })?;
        let name = entry.name()?.into_owned();
        let Some(file_name) = name.strip_prefix(WHEEL_WEIGHTS_PREFIX) else {
            continue;
        };
        if !file_name.ends_with(".sav") || file_name.contains(['/', '\\']) {
            continue;
        }
        let too_large = || {
            anyhow!(
                "{}: {name} is larger than any model file ({} MiB at most; the wheel is damaged \
                 or not topaz-em's)",
                wheel.display(),
                MAX_WEIGHTS_BYTES >> 20
            )
        };
        if entry.size() > MAX_WEIGHTS_BYTES {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        (&mut entry)
            .take(MAX_WEIGHTS_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| anyhow!("{}: reading {name}: {e}", wheel.display()))?;
        if bytes.len() as u64 > MAX_WEIGHTS_BYTES {
            return Err(too_large());
        }
        let path = staging.path().join(file_name);
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        staged.push((file_name.to_string(), path));
    }
    if staged.is_empty() {
        bail!(
            "{} holds no {WHEEL_WEIGHTS_PREFIX}*.sav files: is it the topaz-em wheel?",
            wheel.display()
        );
    }
    for (file_name, path) in &staged {
        validate_weights(file_name, path).map_err(|e| {
            anyhow!(
                "{}: {WHEEL_WEIGHTS_PREFIX}{file_name} does not load: {e} (nothing was installed)",
                wheel.display()
            )
        })?;
    }
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut written = Vec::new();
    for (file_name, path) in &staged {
        let target = dest.join(file_name);
        write_atomically(&target, &std::fs::read(path)?)?;
        written.push(target);
    }
    written.sort();
    Ok(written)
}

/// Loads the weights file `path` (named `file_name` in the wheel) on the CPU as the model
/// its name says (one of [`TopazArch`] or [`Topaz3dArch`], with exactly their dimensions),
/// else as whichever Topaz 2D or 3D architecture its shapes describe.
///
/// # Errors
/// The loaders' one-line errors: unreadable pickle, missing, mis-shaped or non-finite
/// tensors, or dimensions other than the named model's.
pub fn validate_weights(file_name: &str, path: &Path) -> Result<()> {
    let device = burn::prelude::Device::flex();
    let known_3d = Topaz3dArch::ALL
        .into_iter()
        .any(|a| a.weights_file() == file_name);
    if known_3d || ModelSpec::File(path.to_path_buf()).is_volume_model() {
        load_topaz3d(path, &device)?;
        return Ok(());
    }
    let (_, config) = load_topaz(path, &device)?;
    if let Some(arch) = TopazArch::ALL
        .into_iter()
        .find(|a| a.weights_file() == file_name)
        && arch.config() != config
    {
        bail!(
            "holds {} where {} is {}",
            config.describe(),
            arch.name(),
            arch.config().describe()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn finds_wheel_link_in_simple_index() {
        let page = r#"<a href="../../packages/ab/cd/topaz_em-0.3.19-py3-none-any.whl#sha256=00">x</a>
<a href="../../packages/ef/01/topaz_em-0.3.20-py3-none-any.whl#sha256=abc">topaz_em-0.3.20-py3-none-any.whl</a>"#;
        let href = find_href(page, "topaz_em-0.3.20-py3-none-any.whl").unwrap();
        assert_eq!(
            href,
            "../../packages/ef/01/topaz_em-0.3.20-py3-none-any.whl#sha256=abc"
        );
        let url = resolve_url(
            "https://index.example/simple/topaz-em/",
            "../../packages/ef/01/t.whl",
        );
        assert_eq!(url, "https://index.example/packages/ef/01/t.whl");
        assert_eq!(
            resolve_url("https://h.example/simple/x/", "/p/t.whl"),
            "https://h.example/p/t.whl"
        );
    }

    #[test]
    fn extract_rejects_a_zip_without_weights() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("other.whl");
        {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
            z.start_file("pkg/__init__.py", zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(b"").unwrap();
            z.finish().unwrap();
        }
        let err = extract_weights(&wheel, &dir.path().join("out"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no topaz/pretrained/denoise"), "{err}");
        let not_zip = dir.path().join("bad.whl");
        std::fs::write(&not_zip, b"not a zip").unwrap();
        assert!(extract_weights(&not_zip, &dir.path().join("out")).is_err());
    }
}
