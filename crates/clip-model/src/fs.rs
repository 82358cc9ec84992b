//! Files written whole or not at all, and text files read as lines: the two file chores
//! every command and reader shares.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// A file operation that failed, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot {action}: {error}", path.display())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What was being done (`"read it"`, `"move the output into place"`, …).
    pub action: &'static str,
    /// The operating system's error.
    pub error: io::Error,
}

/// Writes `path` whole or not at all: `write` fills a new temporary file beside it (same
/// extension, for writers that pick the format from the name), which is then synced to disk,
/// given the mode of the file it replaces (a new file gets `rw-r--r--`) and renamed over
/// `path`. On any error, or a panic, the temporary file is removed and `path` is untouched.
///
/// `write` gets the temporary path, so writers that open files themselves (safetensors,
/// `ndarray_npy`, image encoders) can be used; a writer may even replace the file there.
pub fn write_atomic<E: From<FileError>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let fail = |action, error| FileError {
        path: path.to_owned(),
        action,
        error,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let suffix = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.unwrap_or_default()))
        .suffix(&suffix)
        .tempfile_in(dir)
        .map_err(|e| fail("create a temporary file beside it", e))?;
    write(tmp.path())?;
    // Opened again by path: the writer may have replaced the file the handle points to.
    File::open(tmp.path())
        .and_then(|f| f.sync_all())
        .map_err(|e| fail("sync it to disk", e))?;
    let permissions = match std::fs::metadata(path) {
        Ok(existing) => Some(existing.permissions()),
        Err(_) => shared_file_permissions(),
    };
    if let Some(permissions) = permissions {
        std::fs::set_permissions(tmp.path(), permissions)
            .map_err(|e| fail("set the file's mode", e))?;
    }
    tmp.persist(path)
        .map_err(|e| fail("move the output into place", e.error))?;
    // Best effort: the rename itself survives a crash once the directory is synced.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// [`write_atomic`] of bytes held in memory.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_atomic(path, |tmp| {
        std::fs::write(tmp, bytes).map_err(|error| FileError {
            path: path.to_owned(),
            action: "write it",
            error,
        })
    })
}

/// `rw-r--r--`, the mode a file users share gets (temporary files are owner-only).
fn shared_file_permissions() -> Option<std::fs::Permissions> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(std::fs::Permissions::from_mode(0o644))
    }
    #[cfg(not(unix))]
    None
}

/// Why a text file could not be read as lines.
#[derive(Debug, thiserror::Error)]
pub enum LinesError {
    /// The file could not be read.
    #[error(transparent)]
    Read(#[from] FileError),
    /// A line that is not UTF-8.
    #[error("{}:{line}: not UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based number of the first bad line.
        line: usize,
    },
}

/// The lines of a UTF-8 text file, split on `\n` with a `\r` before it dropped (files
/// written on Windows); a final newline ends the last line rather than starting an empty one.
pub fn read_lines(path: &Path) -> Result<Vec<String>, LinesError> {
    let bytes = std::fs::read(path).map_err(|error| FileError {
        path: path.to_owned(),
        action: "read it",
        error,
    })?;
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            String::from_utf8(line.to_vec()).map_err(|_| LinesError::NotUtf8 {
                path: path.to_owned(),
                line: i + 1,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_drop_carriage_returns_and_the_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lines.txt");
        for (text, lines) in [
            ("", vec![]),
            ("\n", vec![""]),
            ("a\r\nb\n", vec!["a", "b"]),
            ("a\n\nb", vec!["a", "", "b"]),
        ] {
            std::fs::write(&file, text).unwrap();
            assert_eq!(read_lines(&file).unwrap(), lines, "{text:?}");
        }
        std::fs::write(&file, b"ok\nok\n\xff\n").unwrap();
        let err = read_lines(&file).unwrap_err();
        assert_eq!(err.to_string(), format!("{}:3: not UTF-8", file.display()));
        let err = read_lines(&dir.path().join("missing.txt")).unwrap_err();
        assert!(
            err.to_string().contains("missing.txt: cannot read it"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.bin");
        write_bytes_atomic(&file, b"old").unwrap();
        let err = write_atomic(&file, |tmp| {
            std::fs::write(tmp, b"half").unwrap();
            Err(FileError {
                path: tmp.to_owned(),
                action: "finish",
                error: io::Error::other("disk full"),
            })
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"));
        assert_eq!(std::fs::read(&file).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "a temporary file was left behind");
    }

    #[test]
    fn a_new_file_is_readable_by_others_and_keeps_its_extension_while_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plot.png");
        write_atomic(&file, |tmp| {
            assert_eq!(tmp.extension().unwrap(), "png");
            assert_eq!(tmp.parent(), Some(dir.path()));
            std::fs::write(tmp, b"x").map_err(|error| FileError {
                path: tmp.to_owned(),
                action: "write it",
                error,
            })
        })
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }
}
