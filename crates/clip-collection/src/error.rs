use std::path::PathBuf;

/// Why a collection could not be embedded, indexed or searched; every message names the
/// file or input at fault.
#[derive(Debug, thiserror::Error)]
pub enum CollectionError {
    /// An input that names nothing to embed.
    #[error("{}: {message}", path.display())]
    Input {
        /// What was given.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A collection directory whose files disagree with each other or with this run.
    #[error("{}: {message}", path.display())]
    Collection {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `--shard I/N` that is not a part of a split.
    #[error("shard {0:?}: expected I/N with 0 <= I < N (such as 0/4)")]
    Part(String),
    /// A file that could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// An output file that could not be put in place.
    #[error(transparent)]
    File(#[from] clip_model::fs::FileError),
    /// Webdataset shards that could not be listed or read.
    #[error(transparent)]
    Data(#[from] clip_model::data::DataError),
}

impl CollectionError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        CollectionError::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn collection(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        CollectionError::Collection {
            path: path.into(),
            message: message.into(),
        }
    }
}
