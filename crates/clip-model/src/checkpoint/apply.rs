//! Loading a checkpoint's tensors into a [`Clip`] through burn-store.

use burn::tensor::{DType, Device};
use burn_store::{ChainAdapter, FloatCastAdapter, ModuleSnapshot, PyTorchToBurnAdapter};

use super::Checkpoint;
use super::names::{to_burn, to_openai};
use super::tensors::reshaped;
use crate::{Clip, LoadError};

impl Checkpoint {
    /// Builds the model the checkpoint describes on `device`, with every float tensor
    /// converted to `dtype` (f32 unless the backend is to hold f16/bf16).
    ///
    /// The PyTorch → Burn adapter transposes `Linear` weights and renames norm parameters;
    /// tensor data is read from the file one tensor at a time.
    pub fn into_model(self, device: &Device, dtype: DType) -> Result<Clip, LoadError> {
        let config = self.config()?;
        let path = self.path.clone();
        let mut model = config.init(device);
        let tensors = self
            .tensors
            .into_iter()
            .map(|(key, tensor)| {
                // PyTorch's 0-d `logit_scale` is a one-element vector here.
                let mut tensor = if tensor.shape.to_vec().is_empty() {
                    reshaped(tensor, vec![1])
                } else {
                    tensor
                };
                tensor.name = to_burn(&key);
                tensor
            })
            .collect();
        let adapter = ChainAdapter::new(PyTorchToBurnAdapter, FloatCastAdapter::to(dtype));
        let result = model.apply(tensors, None, Some(Box::new(adapter)), true);
        if let Some(error) = result.errors.first() {
            let detail = error.to_string();
            let detail = rename_paths(&detail);
            return Err(LoadError::architecture(&path, detail));
        }
        if let Some((missing, _)) = result.missing.first() {
            return Err(LoadError::MissingKey {
                path,
                key: to_openai(missing),
            });
        }
        model.hf_tokenizer = crate::tokenizer::load(&path, &model.config)?;
        Ok(model)
    }
}

/// Rewrites Burn module paths quoted in an error message to checkpoint keys.
fn rename_paths(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| "'\"`,:()[]".contains(c));
            if bare.contains('.')
                && !bare.contains("..")
                && bare
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
            {
                word.replace(bare, &to_openai(bare))
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
