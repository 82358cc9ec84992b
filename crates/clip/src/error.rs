use crate::device::DeviceError;

/// Anything the facade can fail with; every variant prints as one line that names the
/// file or input at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The weights could not be found, downloaded, read or loaded.
    #[error(transparent)]
    Load(#[from] clip_model::LoadError),
    /// An image file could not be read or decoded.
    #[cfg(feature = "image")]
    #[error(transparent)]
    Image(#[from] clip_vision::preprocess::ImageError),
    /// A text does not fit the model's context (see [`ClipPipeline::truncate`]).
    ///
    /// [`ClipPipeline::truncate`]: crate::ClipPipeline::truncate
    #[error(transparent)]
    Tokenizer(#[from] clip_tokenizer::TokenizerError),
    /// Labels or templates that make no prompt.
    #[error(transparent)]
    ZeroShot(#[from] clip_zeroshot::ZeroShotError),
    /// The device cannot run here.
    #[error(transparent)]
    Device(#[from] DeviceError),
}
