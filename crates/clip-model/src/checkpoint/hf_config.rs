//! Hugging Face's `config.json` beside `model.safetensors`: what the shapes cannot tell —
//! the heads of each tower, the activation (`hidden_act`) and the norms' epsilon.

use std::path::{Path, PathBuf};

use clip_nn::Activation;
use serde::Deserialize;

use crate::{ClipConfig, LoadError};

/// The file's name in a hub repository.
pub const FILE_NAME: &str = "config.json";

/// The weights' name in a hub repository; a cached download `TAG-model.safetensors` has its
/// configuration at `TAG-config.json`.
const WEIGHT_NAME: &str = "model.safetensors";

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    text_config: Tower,
    #[serde(default)]
    vision_config: Tower,
}

/// The fields read from `text_config` / `vision_config` (absent ones keep the shapes' guess).
#[derive(Deserialize, Default)]
struct Tower {
    num_attention_heads: Option<usize>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
}

/// The configuration file that belongs to the weights at `weights`, if there is one.
pub fn beside(weights: &Path) -> Option<PathBuf> {
    crate::companion::beside(weights, &[WEIGHT_NAME], false, FILE_NAME)
}

/// `config` (inferred from the shapes) with what the file at `path` says.
pub fn apply(config: &mut ClipConfig, path: &Path) -> Result<(), LoadError> {
    let bad = |detail: String| LoadError::corrupt(path, "Hugging Face configuration", detail);
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::io(path, e))?;
    let file: File = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if let Some(heads) = file.text_config.num_attention_heads {
        config.transformer_heads = heads;
    }
    if let Some(heads) = file.vision_config.num_attention_heads {
        if heads == 0 || !config.vision_width.is_multiple_of(heads) {
            return Err(bad(format!(
                "vision width {} is not a multiple of {heads} heads",
                config.vision_width
            )));
        }
        config.vision_head_width = config.vision_width / heads;
    }
    let towers = [&file.vision_config, &file.text_config];
    if let Some(name) = towers.iter().find_map(|t| t.hidden_act.as_deref()) {
        config.activation = Activation::from_name(name)
            .ok_or_else(|| bad(format!("hidden_act '{name}' is not built here")))?;
    }
    if let Some(eps) = towers.iter().find_map(|t| t.layer_norm_eps) {
        config.norm_eps = eps;
    }
    config
        .validate()
        .map_err(|e| bad(format!("does not fit the weights: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_beside_a_download_or_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("0123abcd-model.safetensors");
        assert_eq!(beside(&weights), None);
        std::fs::write(dir.path().join(FILE_NAME), "{}").unwrap();
        assert_eq!(beside(&weights), Some(dir.path().join(FILE_NAME)));
        let own = dir.path().join("0123abcd-config.json");
        std::fs::write(&own, "{}").unwrap();
        assert_eq!(beside(&weights), Some(own));
    }
}
