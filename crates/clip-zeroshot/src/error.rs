/// Why a zero-shot computation could not run.
#[derive(Debug, thiserror::Error)]
pub enum ZeroShotError {
    /// No class names or labels were given.
    #[error("no labels: give at least one class name")]
    NoLabels,
    /// No templates were given.
    #[error("no templates: give at least one, such as \"a photo of a {{}}.\"")]
    NoTemplates,
    /// A template without exactly one `{}` placeholder.
    #[error("template {0:?} must contain exactly one {{}} where the label goes")]
    BadTemplate(String),
    /// A prompt does not fit the model's context.
    #[error(transparent)]
    Tokenizer(#[from] clip_tokenizer::TokenizerError),
    /// A labelled table with a bad line.
    #[error("{path}:{line}: {message}")]
    Table {
        /// The table.
        path: std::path::PathBuf,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A dataset in no layout the readers know, or without images.
    #[error("{}: {message}", path.display())]
    Dataset {
        /// Its root or table.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An image that cannot be read or decoded.
    #[cfg(feature = "data")]
    #[error(transparent)]
    Image(#[from] clip_vision::preprocess::ImageError),
    /// CIFAR's pickles.
    #[error(transparent)]
    Cifar(#[from] crate::CifarError),
    /// The linear probe could not be fitted or applied.
    #[error("linear probe: {0}")]
    Probe(String),
    /// A prompt file or a table could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error (in the message, so not a chained source).
        error: std::io::Error,
    },
}

impl From<clip_model::fs::LinesError> for ZeroShotError {
    fn from(e: clip_model::fs::LinesError) -> Self {
        match e {
            clip_model::fs::LinesError::Read(e) => ZeroShotError::Io {
                path: e.path,
                error: e.error,
            },
            clip_model::fs::LinesError::NotUtf8 { path, line } => ZeroShotError::Table {
                path,
                line,
                message: "not UTF-8".into(),
            },
        }
    }
}
