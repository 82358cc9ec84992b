//! Writing a checkpoint as safetensors with OpenAI's key names and PyTorch layout — the
//! format open_clip reads too — plus the configuration as metadata.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::tensor::DType;
use burn_store::bridge;
use burn_store::burn_pack::Tensor as PackTensor;

use super::{CONFIG_METADATA_KEY, Checkpoint};
use crate::{ClipConfig, LoadError};

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

impl Checkpoint {
    /// Writes the tensors to `out` (atomically: a temporary file renamed on success), one
    /// tensor in memory at a time.
    pub fn save(&self, out: &Path, config: &ClipConfig, dtype: SaveDtype) -> Result<(), LoadError> {
        let error = Arc::new(Mutex::new(None));
        let entries: Vec<(String, Entry)> = self
            .tensors
            .iter()
            .map(|(key, tensor)| {
                let target = match (dtype, tensor.dtype) {
                    (SaveDtype::F32, d) if d.is_float() => DType::F32,
                    (SaveDtype::F16, d) if d.is_float() => DType::F16,
                    (_, d) => d,
                };
                let entry = Entry {
                    tensor: tensor.clone(),
                    dtype: target,
                    shape: tensor.shape.to_vec(),
                    error: error.clone(),
                };
                (key.clone(), entry)
            })
            .collect();
        let metadata = HashMap::from([
            ("format".to_string(), "pt".to_string()),
            (
                CONFIG_METADATA_KEY.to_string(),
                serde_json::to_string(config).expect("config serialises"),
            ),
            ("source_format".to_string(), self.format.to_string()),
        ]);

        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile_in(dir, out).map_err(|e| LoadError::io(out, e))?;
        let written = safetensors::serialize_to_file(
            entries.iter().map(|(k, e)| (k.as_str(), e)),
            Some(metadata),
            &tmp,
        );
        let failure = error.lock().unwrap_or_else(|p| p.into_inner()).take();
        let result = match (written, failure) {
            (_, Some(message)) => Err(LoadError::corrupt(
                &self.path,
                &self.format.to_string(),
                message,
            )),
            (Err(e), None) => Err(LoadError::io(out, std::io::Error::other(e.to_string()))),
            (Ok(()), None) => readable(&tmp)
                .and_then(|()| std::fs::rename(&tmp, out))
                .map_err(|e| LoadError::io(out, e)),
        };
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// The safetensors writer creates its file owner-only (a temporary file's mode); give the
/// output the usual `rw-r--r--` of a file users share.
fn readable(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A fresh path beside `out` for the temporary file.
fn tempfile_in(dir: &Path, out: &Path) -> std::io::Result<std::path::PathBuf> {
    let stem = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for i in 0..1000u32 {
        let candidate = dir.join(format!(".{stem}.{}.{i}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(_) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}
