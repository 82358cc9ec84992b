//! One file over HTTP(S) into the cache: resumable (HTTP `Range`), written to
//! `FILE.part` and renamed only once its SHA-256 matches, with a progress bar.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::digest::sha256_file;

/// Why a download failed. Every message names the URL.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// No connection, a refused request or a broken transfer.
    #[error(
        "{url}: {detail}. Without network access, download the file by hand and place it at {}",
        dest.display()
    )]
    Network {
        /// The URL.
        url: String,
        /// What went wrong.
        detail: String,
        /// Where the file belongs.
        dest: PathBuf,
    },
    /// The file arrived but is not the one published.
    #[error(
        "{url}: SHA-256 mismatch (expected {expected}, got {actual}); the download was deleted"
    )]
    Checksum {
        /// The URL.
        url: String,
        /// The published digest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The cache could not be written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error (in the message, so not a chained source).
        error: std::io::Error,
    },
}

impl From<crate::fs::FileError> for DownloadError {
    fn from(e: crate::fs::FileError) -> Self {
        DownloadError::Io {
            path: e.path,
            error: e.error,
        }
    }
}

/// `dest` + `suffix` (`ViT-B-32.pt.part`).
fn with_suffix(dest: &Path, suffix: &str) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes sure `dest` holds the file at `url`, downloading it if needed, and returns `dest`.
///
/// A cached `dest` is trusted without a request when its recorded digest (`dest.sha256`,
/// written after verification) matches `sha256` and its size; otherwise it is re-hashed.
/// An interrupted download leaves `dest.part`, which the next call resumes with a `Range`
/// request. A digest mismatch deletes the partial file and fails.
pub fn download(url: &str, sha256: Option<&str>, dest: &Path) -> Result<PathBuf, DownloadError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| DownloadError::Io { path, error }
    };
    let stamp = with_suffix(dest, ".sha256");
    if dest.is_file() {
        let recorded = fs::read_to_string(&stamp).ok();
        let size = fs::metadata(dest).map_err(io(dest))?.len();
        let verified = recorded.as_deref().and_then(|r| r.split_once(' '));
        match (sha256, verified) {
            (Some(want), Some((got, len))) if got == want && len.trim() == size.to_string() => {
                return Ok(dest.to_path_buf());
            }
            (None, _) => return Ok(dest.to_path_buf()),
            (Some(want), _) => {
                if sha256_file(dest).map_err(io(dest))? == want {
                    crate::fs::write_bytes_atomic(&stamp, format!("{want} {size}\n").as_bytes())?;
                    return Ok(dest.to_path_buf());
                }
                eprintln!(
                    "{}: checksum does not match; downloading again",
                    dest.display()
                );
                fs::remove_file(dest).map_err(io(dest))?;
            }
        }
    }
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let part = with_suffix(dest, ".part");
    fetch(url, &part, dest)?;

    let actual = sha256_file(&part).map_err(io(&part))?;
    if let Some(expected) = sha256
        && actual != expected
    {
        let _ = fs::remove_file(&part);
        return Err(DownloadError::Checksum {
            url: url.into(),
            expected: expected.into(),
            actual,
        });
    }
    let size = fs::metadata(&part).map_err(io(&part))?.len();
    fs::rename(&part, dest).map_err(io(dest))?;
    crate::fs::write_bytes_atomic(&stamp, format!("{actual} {size}\n").as_bytes())?;
    Ok(dest.to_path_buf())
}

/// Appends the rest of `url` to `part` (all of it if the server ignores `Range`).
fn fetch(url: &str, part: &Path, dest: &Path) -> Result<(), DownloadError> {
    let network = |detail: String| DownloadError::Network {
        url: url.into(),
        detail,
        dest: dest.to_path_buf(),
    };
    let io = |error| DownloadError::Io {
        path: part.to_path_buf(),
        error,
    };
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = match request.call() {
        Ok(response) => response,
        // The partial file already holds everything: let the checksum decide.
        Err(ureq::Error::StatusCode(416)) if have > 0 => return Ok(()),
        Err(e) => return Err(network(e.to_string())),
    };
    let resumed = response.status().as_u16() == 206;
    let remaining: Option<u64> = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let start = if resumed { have } else { 0 };
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(part)
        .map_err(io)?;

    let bar = indicatif::ProgressBar::new(remaining.map_or(0, |r| r + start));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} [{eta}]",
        )
        .expect("valid template"),
    );
    bar.set_position(start);
    let mut body = response.into_body();
    let mut reader = body.as_reader();
    let mut buf = vec![0; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                bar.abandon();
                return Err(network(format!(
                    "transfer interrupted ({e}); run again to resume"
                )));
            }
        };
        file.write_all(&buf[..n]).map_err(io)?;
        received += n as u64;
        bar.inc(n as u64);
    }
    file.flush().map_err(io)?;
    bar.finish_and_clear();
    if let Some(expected) = remaining
        && received != expected
    {
        return Err(network(format!(
            "transfer interrupted after {received} of {expected} bytes; run again to resume"
        )));
    }
    Ok(())
}
