//! open_clip's `open_clip_config.json`, which its `hf-hub` repositories ship beside the
//! weights: what the weights' shapes cannot tell — the MLP's activation (`quick_gelu`), the
//! attention head widths (80 in ViT-H/14, 88 in ViT-g/14, 104 in ViT-bigG/14), and for SigLIP
//! the timm trunk (heads, activation) and the text tower's mask, pooling, projection bias,
//! norm epsilon and tanh-GELU.

use std::path::{Path, PathBuf};

use clip_nn::Activation;
use serde::Deserialize;

use crate::{ClipConfig, LoadError};

/// The file's name in an `hf-hub` repository.
pub const FILE_NAME: &str = "open_clip_config.json";

/// The weights' file names in open_clip's repositories, each replaced by [`FILE_NAME`] to find
/// the configuration of a cached download (`TAG-open_clip_model.safetensors` →
/// `TAG-open_clip_config.json`).
const WEIGHT_NAMES: [&str; 2] = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"];

#[derive(Deserialize)]
struct File {
    model_cfg: ModelCfg,
    preprocess_cfg: Option<PreprocessCfg>,
}

#[derive(Deserialize)]
struct PreprocessCfg {
    mean: Option<[f32; 3]>,
    std: Option<[f32; 3]>,
    resize_mode: Option<String>,
}

#[derive(Deserialize)]
struct ModelCfg {
    #[serde(default)]
    quick_gelu: bool,
    vision_cfg: VisionCfg,
    text_cfg: TextCfg,
}

#[derive(Deserialize)]
struct VisionCfg {
    /// open_clip's default: 64.
    #[serde(default = "head_width")]
    head_width: usize,
    /// A timm trunk (SigLIP's): its heads and activation come from the table.
    timm_model_name: Option<String>,
}

#[derive(Deserialize)]
struct TextCfg {
    heads: Option<usize>,
    #[serde(default)]
    no_causal_mask: bool,
    pool_type: Option<String>,
    #[serde(default)]
    proj_bias: bool,
    norm_kwargs: Option<NormKwargs>,
    act_kwargs: Option<ActKwargs>,
}

#[derive(Deserialize)]
struct NormKwargs {
    eps: Option<f64>,
}

#[derive(Deserialize)]
struct ActKwargs {
    approximate: Option<String>,
}

fn head_width() -> usize {
    64
}

/// The configuration file that belongs to the weights at `weights`, if there is one.
pub fn beside(weights: &Path) -> Option<PathBuf> {
    crate::companion::beside(weights, &WEIGHT_NAMES, false, FILE_NAME)
}

/// `config` (inferred from the shapes) with what the file at `path` says: the activation, the
/// vision head width and the text heads.
pub fn apply(config: &mut ClipConfig, path: &Path) -> Result<(), LoadError> {
    let bad = |detail: String| LoadError::corrupt(path, "open_clip configuration", detail);
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::io(path, e))?;
    let file: File = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let model = file.model_cfg;
    let base = if model.quick_gelu {
        Activation::QuickGelu
    } else {
        Activation::Gelu
    };
    config.activation = base;
    if config.vision_patch_size.is_some() {
        config.vision_head_width = model.vision_cfg.head_width;
    }
    let text = model.text_cfg;
    if let Some(heads) = text.heads {
        config.transformer_heads = heads;
    }
    // SigLIP: a timm trunk (its heads and activation from the table; timm's defaults —
    // exact GELU, width / 64 heads — for one the table does not know) and the text options.
    if let Some(name) = &model.vision_cfg.timm_model_name {
        let trunk = crate::hub::open_clip::table().timm_trunks.get(name);
        if let Some(trunk) = trunk {
            if trunk.heads == 0 || !config.vision_width.is_multiple_of(trunk.heads) {
                return Err(bad(format!(
                    "timm trunk {name}: {} heads do not divide the width {}",
                    trunk.heads, config.vision_width
                )));
            }
            config.vision_head_width = config.vision_width / trunk.heads;
            config.norm_eps = trunk.norm_eps;
        } else {
            config.vision_head_width = 64;
        }
        config.activation = match trunk.map(|t| t.activation.as_str()) {
            Some(name) => Activation::from_name(name)
                .ok_or_else(|| bad(format!("activation '{name}' is not built here")))?,
            None => Activation::Gelu,
        };
    }
    config.text_causal = !text.no_causal_mask;
    config.text_pool = match text.pool_type.as_deref() {
        None | Some("argmax") | Some("eot") => crate::TextPoolName::Eot,
        Some("last") => crate::TextPoolName::Last,
        Some(other) => return Err(bad(format!("text pool_type '{other}' is not built here"))),
    };
    config.text_proj_bias = text.proj_bias;
    if let Some(eps) = text.norm_kwargs.and_then(|n| n.eps) {
        config.norm_eps = eps;
    }
    let text_activation = match text.act_kwargs.and_then(|a| a.approximate).as_deref() {
        Some("tanh") => Activation::GeluTanh,
        _ => base,
    };
    config.text_activation = (text_activation != config.activation).then_some(text_activation);
    if let Some(pre) = file.preprocess_cfg {
        use clip_vision::preprocess::{MEAN, STD};
        let transform = crate::ImageTransform {
            mean: pre.mean.unwrap_or(MEAN),
            std: pre.std.unwrap_or(STD),
            squash: match pre.resize_mode.as_deref() {
                None | Some("shortest") => false,
                Some("squash") => true,
                Some(other) => return Err(bad(format!("resize_mode '{other}' is not built here"))),
            },
        };
        let openai = transform.mean == MEAN && transform.std == STD && !transform.squash;
        config.image_transform = (!openai).then_some(transform);
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
        let weights = dir.path().join("0123abcd-open_clip_model.safetensors");
        assert_eq!(beside(&weights), None);
        std::fs::write(dir.path().join(FILE_NAME), "{}").unwrap();
        assert_eq!(beside(&weights), Some(dir.path().join(FILE_NAME)));
        let own = dir.path().join("0123abcd-open_clip_config.json");
        std::fs::write(&own, "{}").unwrap();
        assert_eq!(beside(&weights), Some(own));
    }
}
