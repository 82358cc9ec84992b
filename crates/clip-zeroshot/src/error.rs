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
    /// A prompt file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}
