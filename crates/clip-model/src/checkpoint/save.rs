//! Writing a checkpoint as safetensors with OpenAI's key names and PyTorch layout — the
//! format open_clip reads too — plus the configuration as metadata.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::module::Module;
use burn::tensor::DType;
use burn_store::burn_pack::Tensor as PackTensor;
use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, bridge};

use super::names::to_openai;
use super::tensors::reshaped;
use super::{CONFIG_METADATA_KEY, Checkpoint};
use crate::{Clip, ClipConfig, SaveError};

/// Element type of the tensors written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveDtype {
    /// Every float tensor as f32 (the default: no backend needs a conversion).
    F32,
    /// Every float tensor as f16 (half the size).
    F16,
    /// As stored in the source (OpenAI's files mix f16 and f32).
    Keep,
}

struct Entry {
    tensor: PackTensor,
    dtype: DType,
    shape: Vec<usize>,
    error: Arc<Mutex<Option<String>>>,
}

impl safetensors::View for &Entry {
    fn dtype(&self) -> safetensors::Dtype {
        match self.dtype {
            DType::F64 => safetensors::Dtype::F64,
            DType::F16 => safetensors::Dtype::F16,
            DType::BF16 => safetensors::Dtype::BF16,
            DType::I64 => safetensors::Dtype::I64,
            DType::I32 => safetensors::Dtype::I32,
            _ => safetensors::Dtype::F32,
        }
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        let converted = bridge::to_data(&self.tensor)
            .map_err(|e| e.to_string())
            .map(|d| d.convert_dtype(self.dtype).into_bytes().to_vec());
        match converted {
            Ok(bytes) if bytes.len() == self.data_len() => Cow::Owned(bytes),
            Ok(_) => self.fail(format!("tensor '{}' changed size", self.tensor.name)),
            Err(e) => self.fail(e),
        }
    }

    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }
}

impl Entry {
    /// Records the first failure; the writer gets zeros and the file is discarded.
    fn fail(&self, message: String) -> Cow<'_, [u8]> {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(message);
        Cow::Owned(vec![0; safetensors::View::data_len(&self)])
    }
}

impl SaveDtype {
    /// The dtype a tensor held as `stored` is written in.
    fn target(self, stored: DType) -> DType {
        match self {
            SaveDtype::F32 if stored.is_float() => DType::F32,
            SaveDtype::F16 if stored.is_float() => DType::F16,
            _ => stored,
        }
    }
}

impl Checkpoint {
    /// Writes the tensors to `out` (atomically: a temporary file renamed on success), one
    /// tensor in memory at a time.
    pub fn save(&self, out: &Path, config: &ClipConfig, dtype: SaveDtype) -> Result<(), SaveError> {
        let tensors = self.tensors.iter().map(|(k, t)| (k.clone(), t.clone()));
        let format = self.format.to_string();
        let extra = ("source_format", format.clone());
        write_safetensors(out, tensors, config, dtype, extra, (&self.path, &format))?;
        crate::tokenizer::copy_beside(&self.path, out).map_err(|e| tokenizer_error(out, e))
    }
}

impl Clip {
    /// Writes the model as safetensors with OpenAI's key names and PyTorch's layout (what
    /// open_clip and [`Clip::load`] read), the configuration in the metadata, float tensors
    /// in `dtype` (`Keep` writes them as they are held). The file is replaced atomically.
    pub fn save(&self, path: impl AsRef<Path>, dtype: SaveDtype) -> Result<(), SaveError> {
        let path = path.as_ref();
        let tensors = self
            .valid()
            .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
            .into_iter()
            .map(|tensor| {
                let key = to_openai(&tensor.name);
                // The model holds `logit_scale` as a one-element vector; PyTorch's is 0-d.
                let tensor = if key == "logit_scale" {
                    reshaped(tensor, Vec::new())
                } else {
                    tensor
                };
                (key, tensor)
            });
        let extra = ("producer", "clip-burn".to_owned());
        write_safetensors(path, tensors, &self.config, dtype, extra, (path, "model"))?;
        match &self.hf_tokenizer {
            Some(t) => {
                crate::tokenizer::copy_to(t.path(), path).map_err(|e| tokenizer_error(path, e))
            }
            None => Ok(()),
        }
    }
}

/// A tokenizer file that could not be copied beside the saved weights.
fn tokenizer_error(out: &Path, e: std::io::Error) -> SaveError {
    SaveError::Write {
        path: out.to_path_buf(),
        detail: format!("the weights were written, but not the tokenizer beside them: {e}"),
    }
}

/// Writes `tensors` (named with OpenAI's keys) to `out` as safetensors, atomically, reading
/// one tensor into memory at a time; `config` and `extra` go into the metadata. A tensor that
/// cannot be read is a [`SaveError::Source`] (its path and format) and nothing is written.
fn write_safetensors(
    out: &Path,
    tensors: impl Iterator<Item = (String, PackTensor)>,
    config: &ClipConfig,
    dtype: SaveDtype,
    extra: (&str, String),
    source: (&Path, &str),
) -> Result<(), SaveError> {
    let error = Arc::new(Mutex::new(None));
    let entries: Vec<(String, Entry)> = tensors
        .map(|(key, tensor)| {
            let entry = Entry {
                dtype: dtype.target(tensor.dtype),
                shape: tensor.shape.to_vec(),
                tensor,
                error: error.clone(),
            };
            (key, entry)
        })
        .collect();
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            CONFIG_METADATA_KEY.to_string(),
            serde_json::to_string(config).expect("config serialises"),
        ),
        (extra.0.to_string(), extra.1),
    ]);
    crate::fs::write_atomic(out, |tmp| {
        let written = safetensors::serialize_to_file(
            entries.iter().map(|(k, e)| (k.as_str(), e)),
            Some(metadata),
            tmp,
        );
        let failure = error.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (written, failure) {
            (_, Some(detail)) => Err(SaveError::Source {
                path: source.0.to_path_buf(),
                format: source.1.to_owned(),
                detail,
            }),
            (Err(e), None) => Err(SaveError::Write {
                path: out.to_path_buf(),
                detail: e.to_string(),
            }),
            (Ok(()), None) => Ok(()),
        }
    })
}
