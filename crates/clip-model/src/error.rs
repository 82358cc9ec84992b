use std::path::PathBuf;

/// Why a checkpoint could not be found, downloaded, read, recognised or loaded.
///
/// Every variant names the file, so a command can print the error as one line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened or read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error (in the message, so not a chained source).
        error: std::io::Error,
    },
    /// The file is none of the formats this crate reads.
    #[error("{path}: not a CLIP checkpoint this tool can read ({detail})")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// The file has a known format but is damaged (truncated, corrupt archive or pickle).
    #[error("{path}: corrupt or truncated {format} file: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The detected format.
        format: String,
        /// What went wrong.
        detail: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("{path}: missing tensor '{key}'")]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The checkpoint key (OpenAI naming).
        key: String,
    },
    /// The tensors' shapes fit no CLIP architecture.
    #[error("{path}: {detail}")]
    Architecture {
        /// The file.
        path: PathBuf,
        /// Which shape disagrees.
        detail: String,
    },
    /// Neither a file nor a name, URL or hub reference this crate resolves.
    #[error(
        "{}: no such file, and not a model name ({}), an open_clip MODEL/TAG (e.g. \
         ViT-B-32/laion2b_s34b_b79k; `cargo xtask list-models` lists them), an http(s) URL or \
         hf-hub:ORG/REPO",
        given.display(),
        crate::available_models().join(", ")
    )]
    UnknownModel {
        /// What was given.
        given: PathBuf,
    },
    /// Downloads need a cache directory and the platform has none.
    #[error("no cache directory on this platform; set CLIP_CACHE_DIR")]
    NoCacheDir,
    /// A downloaded checkpoint's converted copy could not be written.
    #[error(transparent)]
    Save(#[from] SaveError),
    /// Fetching a model by name or URL failed.
    #[cfg(feature = "download")]
    #[error(transparent)]
    Download(#[from] crate::hub::DownloadError),
    /// A name or URL whose file is not in the cache, in a build without downloads.
    #[error(
        "{url}: this build of clip-model cannot download (its `download` feature is off); \
         download the file by hand and place it at {}",
        dest.display()
    )]
    DownloadDisabled {
        /// Where the file is published.
        url: String,
        /// Where the cache expects it.
        dest: PathBuf,
    },
}

impl From<crate::fs::FileError> for LoadError {
    fn from(e: crate::fs::FileError) -> Self {
        LoadError::io(e.path, e.error)
    }
}

impl LoadError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        LoadError::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, format: &str, detail: impl ToString) -> Self {
        LoadError::Corrupt {
            path: path.into(),
            format: format.to_string(),
            detail: detail.to_string(),
        }
    }

    pub(crate) fn architecture(path: impl Into<PathBuf>, detail: impl ToString) -> Self {
        LoadError::Architecture {
            path: path.into(),
            detail: detail.to_string(),
        }
    }
}

/// Why a model or checkpoint could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The output file.
    #[error(transparent)]
    File(#[from] crate::fs::FileError),
    /// A tensor of the source that could not be read (nothing was written).
    #[error("{}: corrupt or truncated {format} file: {detail}", path.display())]
    Source {
        /// The source file.
        path: PathBuf,
        /// Its format.
        format: String,
        /// What went wrong.
        detail: String,
    },
    /// The safetensors writer failed.
    #[error("{}: {detail}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}
