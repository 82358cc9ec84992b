//! Reading every checkpoint format users hold into one form: OpenAI's key names, the
//! PyTorch layout, and tensors whose bytes are read only when drawn.
//!
//! | format | reader |
//! |---|---|
//! | OpenAI's release `.pt` (TorchScript archive) | [`torchscript`]: zip + restricted unpickler |
//! | `torch.save(state_dict)`, open_clip training checkpoints | burn-store's `PytorchReader` |
//! | open_clip / converted safetensors | burn-store's `SafetensorsStore` |
//! | open_clip's SigLIP (timm trunk), either container | [`open_clip_timm`] renaming |
//! | Hugging Face `CLIPModel` / `SiglipModel` safetensors | `SafetensorsStore` + [`hf`] renaming, [`hf_config`] |

mod apply;
mod hf;
pub mod hf_config;
mod names;
pub mod open_clip_config;
mod open_clip_timm;
pub mod pickle;
mod save;
mod tensors;
pub mod torchscript;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use burn_store::burn_pack::Tensor as PackTensor;
use burn_store::pytorch_reader::PytorchReader;
use burn_store::{ModuleStore, SafetensorsStore};

use crate::{ClipConfig, LoadError};

pub use save::SaveDtype;

/// Metadata key under which converted files carry their [`ClipConfig`] as JSON.
pub const CONFIG_METADATA_KEY: &str = "clip_config";

/// The file formats [`Checkpoint::open`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI's release files: a TorchScript archive (`ViT-B-32.pt` …).
    TorchScript,
    /// `torch.save` of a state dict with OpenAI's key names (possibly wrapped as
    /// `{"state_dict": …}` with a `module.` prefix, as open_clip training checkpoints).
    TorchStateDict,
    /// Safetensors with OpenAI's key names (open_clip's files and this project's own).
    Safetensors,
    /// Hugging Face `CLIPModel` safetensors.
    HuggingFace,
    /// Hugging Face `SiglipModel` safetensors (SigLIP, SigLIP 2 at a fixed resolution).
    HuggingFaceSiglip,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::TorchScript => "OpenAI TorchScript archive",
            Format::TorchStateDict => "PyTorch state dict (torch.save)",
            Format::Safetensors => "safetensors (OpenAI/open_clip key names)",
            Format::HuggingFace => "Hugging Face CLIPModel safetensors",
            Format::HuggingFaceSiglip => "Hugging Face SiglipModel safetensors",
        })
    }
}

/// A checkpoint's tensors under OpenAI's names, not yet read.
pub struct Checkpoint {
    /// The file.
    pub path: PathBuf,
    /// How it was stored.
    pub format: Format,
    /// Tensors by OpenAI key (`visual.conv1.weight`, `transformer.resblocks.0.attn.in_proj_weight` …).
    pub tensors: BTreeMap<String, PackTensor>,
    /// The configuration recorded in the file, if any (files written by [`Checkpoint::save`]).
    pub recorded_config: Option<ClipConfig>,
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checkpoint")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl Checkpoint {
    /// Detects the format of `path` and indexes its tensors (the data stays on disk).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let mut head = [0u8; 16];
        let len = {
            let mut file = std::fs::File::open(path).map_err(|e| LoadError::io(path, e))?;
            read_up_to(&mut file, &mut head).map_err(|e| LoadError::io(path, e))?
        };
        let head = &head[..len];
        let file_len = std::fs::metadata(path)
            .map_err(|e| LoadError::io(path, e))?
            .len();

        if head.starts_with(b"PK\x03\x04") {
            if torchscript::is_torchscript(path)? {
                let tensors = torchscript::read(path)?;
                return Self::openai(path, Format::TorchScript, tensors, None);
            }
            return Self::open_torch(path);
        }
        // Safetensors first: its header length's low byte can be 0x80, a pickle's PROTO.
        if is_safetensors(head, file_len) {
            return Self::open_safetensors(path);
        }
        if matches!(head, [0x80, 2..=5, ..]) {
            return Self::open_torch(path);
        }
        let detail = if head.is_empty() {
            "the file is empty".to_string()
        } else if head.iter().all(|b| b.is_ascii()) {
            "it looks like text".to_string()
        } else {
            "unrecognised leading bytes".to_string()
        };
        Err(LoadError::UnknownFormat {
            path: path.to_path_buf(),
            detail,
        })
    }

    fn open_torch(path: &Path) -> Result<Self, LoadError> {
        let reader =
            PytorchReader::new(path).map_err(|e| LoadError::corrupt(path, "PyTorch", e))?;
        let tensors = reader
            .into_tensors()
            .into_iter()
            .map(|(name, tensor)| (name, burn_store::bridge::from_pytorch(tensor)))
            .collect();
        Self::openai(path, Format::TorchStateDict, tensors, None)
    }

    fn open_safetensors(path: &Path) -> Result<Self, LoadError> {
        let mut store = SafetensorsStore::from_file(path);
        let tensors = store
            .get_all_tensors()
            .map_err(|e| LoadError::corrupt(path, "safetensors", e))?
            .clone();
        let config = read_recorded_config(path)?;
        if let Some(model) = hf::detect(&tensors) {
            let tensors = hf::to_openai(tensors, model).map_err(|key| LoadError::MissingKey {
                path: path.to_path_buf(),
                key,
            })?;
            let format = match model {
                hf::HfModel::Clip => Format::HuggingFace,
                hf::HfModel::Siglip => Format::HuggingFaceSiglip,
            };
            return Self::openai(path, format, tensors, config);
        }
        let tensors = tensors.into_iter().collect();
        Self::openai(path, Format::Safetensors, tensors, config)
    }

    fn openai(
        path: &Path,
        format: Format,
        tensors: BTreeMap<String, PackTensor>,
        recorded_config: Option<ClipConfig>,
    ) -> Result<Self, LoadError> {
        let mut tensors = names::normalize(tensors);
        if open_clip_timm::detect(&tensors) {
            tensors = open_clip_timm::to_openai(tensors).map_err(|key| LoadError::MissingKey {
                path: path.to_path_buf(),
                key,
            })?;
        }
        Ok(Checkpoint {
            path: path.to_path_buf(),
            format,
            tensors,
            recorded_config,
        })
    }

    /// Tensor shapes by key.
    pub fn shapes(&self) -> BTreeMap<String, Vec<usize>> {
        self.tensors
            .iter()
            .map(|(k, t)| (k.clone(), t.shape.to_vec()))
            .collect()
    }

    /// The architecture: the recorded one if the file has it, else inferred from shapes and
    /// completed by open_clip's `open_clip_config.json` when one lies beside the file.
    pub fn config(&self) -> Result<ClipConfig, LoadError> {
        if let Some(config) = &self.recorded_config {
            return Ok(config.clone());
        }
        let mut config = ClipConfig::infer(&self.shapes()).map_err(|e| match e {
            crate::ConfigError::MissingKey(key) => LoadError::MissingKey {
                path: self.path.clone(),
                key,
            },
            other => LoadError::architecture(&self.path, other),
        })?;
        let open_clip = matches!(self.format, Format::Safetensors | Format::TorchStateDict);
        if let Some(file) = open_clip
            .then(|| open_clip_config::beside(&self.path))
            .flatten()
        {
            open_clip_config::apply(&mut config, &file)?;
        }
        let hugging_face = matches!(self.format, Format::HuggingFace | Format::HuggingFaceSiglip);
        if let Some(file) = hugging_face
            .then(|| hf_config::beside(&self.path))
            .flatten()
        {
            hf_config::apply(&mut config, &file)?;
        }
        Ok(config)
    }
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Safetensors starts with a little-endian u64 header length, then a JSON object.
fn is_safetensors(head: &[u8], file_len: u64) -> bool {
    if head.len() < 9 {
        return false;
    }
    let n = u64::from_le_bytes(head[..8].try_into().unwrap());
    head[8] == b'{' && n >= 2 && n <= file_len.saturating_sub(8)
}

/// The `clip_config` metadata entry of a safetensors file, if present and valid.
fn read_recorded_config(path: &Path) -> Result<Option<ClipConfig>, LoadError> {
    let file = std::fs::File::open(path).map_err(|e| LoadError::io(path, e))?;
    // SAFETY: the map is read-only and dropped before returning; a concurrent truncation
    // of the file is the only hazard, as for any memory-mapped reader.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| LoadError::io(path, e))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&map)
        .map_err(|e| LoadError::corrupt(path, "safetensors", e))?;
    let Some(json) = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(CONFIG_METADATA_KEY))
    else {
        return Ok(None);
    };
    serde_json::from_str(json).map(Some).map_err(|e| {
        LoadError::corrupt(
            path,
            "safetensors",
            format!("bad {CONFIG_METADATA_KEY}: {e}"),
        )
    })
}
