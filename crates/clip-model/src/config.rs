//! `build_model`'s fields, the nine published presets, and inference from tensor shapes.

use std::collections::BTreeMap;

use burn::tensor::Device;
use clip_nn::Activation;
use clip_text::TextTransformerConfig;
use clip_vision::{ModifiedResNetConfig, VisionEncoder, VisionTransformerConfig};
use serde::{Deserialize, Serialize};

use crate::Clip;

/// Vision depth: one number for a ViT, four stage depths for a ModifiedResNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VisionLayers {
    /// Transformer blocks of a ViT.
    Vit(usize),
    /// Bottlenecks per ResNet stage.
    ResNet([usize; 4]),
}

/// A CLIP architecture: exactly the fields OpenAI's `build_model` derives, plus the
/// activation and the vision head width that open_clip varies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    /// Joint embedding width.
    pub embed_dim: usize,
    /// Input side in pixels.
    pub image_resolution: usize,
    /// Vision depth (its kind selects the encoder).
    pub vision_layers: VisionLayers,
    /// ViT width, or the ResNet stem width.
    pub vision_width: usize,
    /// ViT patch size (`None` for ResNets).
    pub vision_patch_size: Option<usize>,
    /// Text sequence length.
    pub context_length: usize,
    /// Text vocabulary.
    pub vocab_size: usize,
    /// Text transformer width.
    pub transformer_width: usize,
    /// Text attention heads.
    pub transformer_heads: usize,
    /// Text transformer depth.
    pub transformer_layers: usize,
    /// MLP non-linearity (`quick_gelu` for OpenAI's weights).
    #[serde(default = "quick_gelu", with = "activation_name")]
    pub activation: Activation,
    /// Width of one vision attention head (64 in OpenAI's models, 80 in open_clip's ViT-H/14).
    #[serde(default = "default_head_width")]
    pub vision_head_width: usize,
    /// Hidden width of the vision MLPs when it is not `4 × vision_width` (open_clip's
    /// `mlp_ratio`: 6144 in ViT-g/14, 8192 in ViT-bigG/14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision_mlp_width: Option<usize>,
    /// How the model's images are prepared when it is not OpenAI's `_transform` (open_clip's
    /// `preprocess_cfg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_transform: Option<ImageTransform>,
}

/// open_clip's `preprocess_cfg` for models trained with another normalisation or resizing
/// than OpenAI's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageTransform {
    /// Per-channel mean of `Normalize`.
    pub mean: [f32; 3],
    /// Per-channel standard deviation of `Normalize`.
    pub std: [f32; 3],
    /// `resize_mode="squash"`: both sides to the resolution, no crop.
    #[serde(default)]
    pub squash: bool,
}

fn quick_gelu() -> Activation {
    Activation::QuickGelu
}

fn default_head_width() -> usize {
    64
}

mod activation_name {
    use clip_nn::Activation;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(a: &Activation, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(a.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Activation, D::Error> {
        let name = String::deserialize(d)?;
        Activation::from_name(&name)
            .ok_or_else(|| D::Error::custom(format!("unknown activation '{name}'")))
    }
}

/// The names OpenAI's `clip.available_models()` lists, in its order.
pub fn available_models() -> &'static [&'static str] {
    &[
        "RN50",
        "RN101",
        "RN50x4",
        "RN50x16",
        "RN50x64",
        "ViT-B/32",
        "ViT-B/16",
        "ViT-L/14",
        "ViT-L/14@336px",
    ]
}

/// Why a configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not one of [`available_models`].
    #[error("unknown model '{0}'; available: {list}", list = available_models().join(", "))]
    UnknownModel(String),
    /// A tensor needed to infer the architecture is absent.
    #[error("missing tensor '{0}'")]
    MissingKey(String),
    /// Shapes that fit no architecture.
    #[error("{0}")]
    Inconsistent(String),
}

impl ClipConfig {
    /// OpenAI's hyperparameters for one of [`available_models`] (`/` may also be written `-`).
    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        let canonical = name.replace('-', "/").replace("ViT/", "ViT-");
        let vit = |embed, res, layers, width, patch, tw| ClipConfig {
            embed_dim: embed,
            image_resolution: res,
            vision_layers: VisionLayers::Vit(layers),
            vision_width: width,
            vision_patch_size: Some(patch),
            ..text(tw)
        };
        let rn = |embed, res, layers, width, tw| ClipConfig {
            embed_dim: embed,
            image_resolution: res,
            vision_layers: VisionLayers::ResNet(layers),
            vision_width: width,
            vision_patch_size: None,
            ..text(tw)
        };
        Ok(match canonical.as_str() {
            "RN50" => rn(1024, 224, [3, 4, 6, 3], 64, 512),
            "RN101" => rn(512, 224, [3, 4, 23, 3], 64, 512),
            "RN50x4" => rn(640, 288, [4, 6, 10, 6], 80, 640),
            "RN50x16" => rn(768, 384, [6, 8, 18, 8], 96, 768),
            "RN50x64" => rn(1024, 448, [3, 15, 36, 10], 128, 1024),
            "ViT-B/32" => vit(512, 224, 12, 768, 32, 512),
            "ViT-B/16" => vit(512, 224, 12, 768, 16, 512),
            "ViT-L/14" => vit(768, 224, 24, 1024, 14, 768),
            "ViT-L/14@336px" => vit(768, 336, 24, 1024, 14, 768),
            _ => return Err(ConfigError::UnknownModel(name.to_string())),
        })
    }

    /// The preset this configuration equals, or a description such as `ViT (custom)`.
    pub fn name(&self) -> String {
        available_models()
            .iter()
            .find(|n| ClipConfig::preset(n).as_ref() == Ok(self))
            .map(|n| n.to_string())
            .unwrap_or_else(|| match self.vision_layers {
                VisionLayers::Vit(_) => "ViT (custom)".to_string(),
                VisionLayers::ResNet(_) => "ResNet (custom)".to_string(),
            })
    }

    /// Attention heads of the vision encoder (ViT: width / head width; ResNet attention
    /// pool: width · 32 / 64, as in OpenAI's code).
    pub fn vision_heads(&self) -> usize {
        match self.vision_layers {
            VisionLayers::Vit(_) => self.vision_width / self.vision_head_width,
            VisionLayers::ResNet(_) => self.vision_width * 32 / 64,
        }
    }

    /// Checks the relations the model relies on, so `init` cannot fail later.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Inconsistent(m));
        let positive = [
            self.embed_dim,
            self.image_resolution,
            self.vision_width,
            self.context_length,
            self.vocab_size,
            self.transformer_width,
            self.transformer_heads,
            self.vision_head_width,
        ];
        if positive.contains(&0) {
            return bad("every width, size and head count must be positive".into());
        }
        if !self
            .transformer_width
            .is_multiple_of(self.transformer_heads)
        {
            return bad(format!(
                "text width {} is not a multiple of {} heads",
                self.transformer_width, self.transformer_heads
            ));
        }
        match (self.vision_layers, self.vision_patch_size) {
            (VisionLayers::Vit(_), Some(patch)) => {
                if patch == 0 || !self.image_resolution.is_multiple_of(patch) {
                    return bad(format!(
                        "image resolution {} is not a multiple of patch size {patch}",
                        self.image_resolution
                    ));
                }
                if self.vision_heads() == 0
                    || !self.vision_width.is_multiple_of(self.vision_head_width)
                {
                    return bad(format!(
                        "vision width {} is not a multiple of head width {}",
                        self.vision_width, self.vision_head_width
                    ));
                }
            }
            (VisionLayers::Vit(_), None) => return bad("a ViT needs vision_patch_size".into()),
            (VisionLayers::ResNet(_), _) => {
                if !self.image_resolution.is_multiple_of(32) || self.vision_width < 2 {
                    return bad(format!(
                        "a ResNet needs a resolution divisible by 32 and width ≥ 2 (got {} and {})",
                        self.image_resolution, self.vision_width
                    ));
                }
                if !(self.vision_width * 32).is_multiple_of(self.vision_heads().max(1))
                    || self.vision_heads() == 0
                {
                    return bad("ResNet attention-pool width is not a multiple of its heads".into());
                }
            }
        }
        Ok(())
    }

    /// Builds a randomly initialised model (OpenAI's initialisation scales).
    pub fn init(&self, device: &Device) -> Clip {
        let visual = match self.vision_layers {
            VisionLayers::Vit(layers) => VisionEncoder::Vit(
                VisionTransformerConfig::new(
                    self.image_resolution,
                    self.vision_patch_size.unwrap_or(1),
                    self.vision_width,
                    layers,
                    self.vision_heads(),
                    self.embed_dim,
                )
                .with_activation(self.activation)
                .with_mlp_width(self.vision_mlp_width)
                .init(device),
            ),
            VisionLayers::ResNet(layers) => VisionEncoder::ResNet(
                ModifiedResNetConfig::new(
                    layers,
                    self.embed_dim,
                    self.vision_heads(),
                    self.image_resolution,
                    self.vision_width,
                )
                .init(device),
            ),
        };
        let text = TextTransformerConfig::new(
            self.context_length,
            self.vocab_size,
            self.transformer_width,
            self.transformer_layers,
            self.transformer_heads,
            self.embed_dim,
        )
        .with_activation(self.activation)
        .init(device);
        Clip::new(visual, text, self, device)
    }

    /// Infers the architecture from tensor shapes keyed by OpenAI's names, as `build_model`.
    pub fn infer(shapes: &BTreeMap<String, Vec<usize>>) -> Result<Self, ConfigError> {
        let shape = |key: &str| {
            shapes
                .get(key)
                .ok_or_else(|| ConfigError::MissingKey(key.to_string()))
        };
        let dim = |key: &str, axis: usize| -> Result<usize, ConfigError> {
            let s = shape(key)?;
            s.get(axis)
                .copied()
                .ok_or_else(|| ConfigError::Inconsistent(format!("tensor '{key}' has shape {s:?}")))
        };
        // Distinct values of the key segment after `prefix`, e.g. block indices.
        let count = |prefix: &str| {
            let mut seen: Vec<&str> = shapes
                .keys()
                .filter_map(|k| k.strip_prefix(prefix))
                .filter_map(|rest| rest.split('.').next())
                .collect();
            seen.sort_unstable();
            seen.dedup();
            seen.len()
        };
        let square_side = |tokens: usize, key: &str| {
            let side = ((tokens.saturating_sub(1)) as f64).sqrt().round() as usize;
            if side * side + 1 == tokens && side > 0 {
                Ok(side)
            } else {
                Err(ConfigError::Inconsistent(format!(
                    "'{key}' has {tokens} rows, not a square grid plus one: no CLIP architecture fits"
                )))
            }
        };

        let (vision_layers, vision_width, vision_patch_size, image_resolution, vision_mlp_width);
        if shapes.contains_key("visual.proj") {
            let conv = shape("visual.conv1.weight")?;
            if conv.len() != 4 || conv[2] != conv[3] {
                return Err(ConfigError::Inconsistent(format!(
                    "'visual.conv1.weight' has shape {conv:?}, not a square patch kernel"
                )));
            }
            vision_width = conv[0];
            let patch = conv[3];
            let grid = square_side(
                dim("visual.positional_embedding", 0)?,
                "visual.positional_embedding",
            )?;
            vision_layers = VisionLayers::Vit(count("visual.transformer.resblocks."));
            let mlp = "visual.transformer.resblocks.0.mlp.c_fc.weight";
            vision_mlp_width = match shapes.get(mlp).and_then(|s| s.first()) {
                Some(&w) if w != 4 * vision_width => Some(w),
                _ => None,
            };
            vision_patch_size = Some(patch);
            image_resolution = patch * grid;
        } else {
            let mut layers = [0; 4];
            for (i, l) in layers.iter_mut().enumerate() {
                *l = count(&format!("visual.layer{}.", i + 1));
            }
            vision_width = dim("visual.layer1.0.conv1.weight", 0)?;
            let side = square_side(
                dim("visual.attnpool.positional_embedding", 0)?,
                "visual.attnpool.positional_embedding",
            )?;
            vision_layers = VisionLayers::ResNet(layers);
            vision_mlp_width = None;
            vision_patch_size = None;
            image_resolution = side * 32;
        }
        let transformer_width = dim("ln_final.weight", 0)?;
        let config = ClipConfig {
            embed_dim: dim("text_projection", 1)?,
            image_resolution,
            vision_layers,
            vision_width,
            vision_patch_size,
            context_length: dim("positional_embedding", 0)?,
            vocab_size: dim("token_embedding.weight", 0)?,
            transformer_width,
            transformer_heads: (transformer_width / 64).max(1),
            transformer_layers: count("transformer.resblocks."),
            activation: Activation::QuickGelu,
            vision_head_width: 64,
            vision_mlp_width,
            image_transform: None,
        };
        config.validate()?;
        Ok(config)
    }
}

fn text(width: usize) -> ClipConfig {
    ClipConfig {
        embed_dim: 0,
        image_resolution: 0,
        vision_layers: VisionLayers::Vit(0),
        vision_width: 0,
        vision_patch_size: None,
        context_length: 77,
        vocab_size: 49408,
        transformer_width: width,
        transformer_heads: width / 64,
        transformer_layers: 12,
        activation: Activation::QuickGelu,
        vision_head_width: 64,
        vision_mlp_width: None,
        image_transform: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_validates_and_names_itself() {
        for name in available_models() {
            let config = ClipConfig::preset(name).unwrap();
            config.validate().unwrap();
            assert_eq!(&config.name(), name);
        }
        assert_eq!(ClipConfig::preset("ViT-B-32").unwrap().name(), "ViT-B/32");
        assert!(ClipConfig::preset("ViT-H/14").is_err());
    }

    #[test]
    fn heads_follow_openai() {
        assert_eq!(ClipConfig::preset("RN50").unwrap().vision_heads(), 32);
        assert_eq!(ClipConfig::preset("RN50x4").unwrap().vision_heads(), 40);
        assert_eq!(ClipConfig::preset("ViT-L/14").unwrap().vision_heads(), 16);
        assert_eq!(ClipConfig::preset("RN50x64").unwrap().transformer_heads, 16);
    }

    #[test]
    fn json_uses_build_model_field_names() {
        let config = ClipConfig::preset("RN50").unwrap();
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["vision_layers"], serde_json::json!([3, 4, 6, 3]));
        assert_eq!(json["activation"], "quick_gelu");
        let back: ClipConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
    }
}
