use std::path::PathBuf;

/// Why a dataset cannot be read. Every variant names the file (and line) at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file that cannot be opened or read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (shown in the message, so not a chained source).
        error: std::io::Error,
    },
    /// A line that does not follow the format.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A dataset with nothing in it.
    #[error("{0}: no image–caption pairs")]
    Empty(PathBuf),
    /// A directory in none of the layouts a reader knows.
    #[error("{dir}: {message}")]
    Layout {
        /// The directory.
        dir: PathBuf,
        /// What was looked for where.
        message: String,
    },
    /// Captions the tokenizer refuses.
    #[error("captions: {0}")]
    Captions(String),
    /// An image that does not decode.
    #[error("{path}: {message}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's complaint.
        message: String,
    },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error: source,
        }
    }

    pub(crate) fn line(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        DataError::Line {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

impl From<crate::fs::FileError> for DataError {
    fn from(e: crate::fs::FileError) -> Self {
        DataError::io(e.path, e.error)
    }
}

impl From<crate::fs::LinesError> for DataError {
    fn from(e: crate::fs::LinesError) -> Self {
        match e {
            crate::fs::LinesError::Read(e) => e.into(),
            crate::fs::LinesError::NotUtf8 { path, line } => {
                DataError::line(path, line, "not UTF-8")
            }
        }
    }
}

/// [`crate::fs::read_lines`] with the data readers' error.
pub(crate) fn read_lines(path: &std::path::Path) -> Result<Vec<String>, DataError> {
    Ok(crate::fs::read_lines(path)?)
}
