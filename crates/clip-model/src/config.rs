//! `build_model`'s fields, the nine published presets, and inference from tensor shapes.

use std::collections::BTreeMap;

use burn::tensor::Device;
use clip_nn::Activation;
use clip_text::{TextPool, TextTransformerConfig};
use clip_vision::{
    ModifiedResNetConfig, SiglipVisionConfig, VisionEncoder, VisionTransformerConfig,
};
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
    /// Hidden width of the text MLPs when it is not `4 × transformer_width` (SigLIP
    /// so400m's 4304).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_mlp_width: Option<usize>,
    /// The LayerNorms' epsilon (1e-5; SigLIP's 1e-6).
    #[serde(
        default = "default_norm_eps",
        skip_serializing_if = "is_default_norm_eps"
    )]
    pub norm_eps: f64,
    /// How the ViT reads its image feature (`token`: the class token and `proj`; `map`:
    /// SigLIP's layout — patch conv with bias, no class token, no `ln_pre`, attention pooling,
    /// no projection).
    #[serde(default, skip_serializing_if = "is_default")]
    pub vision_pool: VisionPool,
    /// Whether the text transformer is causal (CLIP) or unmasked (SigLIP).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub text_causal: bool,
    /// Where the text feature is read (`eot` or SigLIP's `last`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub text_pool: TextPoolName,
    /// Whether the text projection has a bias (SigLIP).
    #[serde(default, skip_serializing_if = "is_default")]
    pub text_proj_bias: bool,
    /// The text tower's MLP non-linearity when it is not [`ClipConfig::activation`]
    /// (open_clip's SigLIP: a timm image trunk with exact GELU, a text tower with tanh-GELU).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_activation_name"
    )]
    pub text_activation: Option<Activation>,
    /// Whether the logits carry a learned bias (SigLIP: `logits = exp(s)·cos + b`; models
    /// with it are trained with, and classify by, the sigmoid).
    #[serde(default, skip_serializing_if = "is_default")]
    pub logit_bias: bool,
}

/// How a ViT pools its tokens into the image feature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VisionPool {
    /// OpenAI's: the class token, `ln_post`, `proj`.
    #[default]
    Token,
    /// SigLIP's multihead attention pooling.
    Map,
}

/// [`TextPool`] under its configuration name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextPoolName {
    /// The end-of-text token.
    #[default]
    Eot,
    /// The last position.
    Last,
}

impl From<TextPoolName> for TextPool {
    fn from(name: TextPoolName) -> Self {
        match name {
            TextPoolName::Eot => TextPool::Eot,
            TextPoolName::Last => TextPool::Last,
        }
    }
}

fn default_norm_eps() -> f64 {
    clip_nn::LAYER_NORM_EPS
}

fn is_default_norm_eps(eps: &f64) -> bool {
    *eps == clip_nn::LAYER_NORM_EPS
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
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

mod optional_activation_name {
    use clip_nn::Activation;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &Option<Activation>, s: S) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => super::activation_name::serialize(a, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Activation>, D::Error> {
        match Option::<serde_json::Value>::deserialize(d)? {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => super::activation_name::deserialize(v)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
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
                VisionLayers::Vit(_) if self.vision_pool == VisionPool::Map => {
                    "SigLIP (custom)".to_string()
                }
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
        if self.vision_pool == VisionPool::Map && self.embed_dim != self.vision_width {
            return bad(format!(
                "attention pooling has no projection: embed_dim {} must equal vision width {}",
                self.embed_dim, self.vision_width
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
            (VisionLayers::ResNet(_), _) if self.vision_pool == VisionPool::Map => {
                return bad("attention pooling (vision_pool 'map') needs a ViT".into());
            }
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
            VisionLayers::Vit(layers) if self.vision_pool == VisionPool::Map => {
                VisionEncoder::Siglip(
                    SiglipVisionConfig::new(
                        self.image_resolution,
                        self.vision_patch_size.unwrap_or(1),
                        self.vision_width,
                        layers,
                        self.vision_heads(),
                        self.vision_mlp_width.unwrap_or(4 * self.vision_width),
                    )
                    .with_activation(self.activation)
                    .with_norm_eps(self.norm_eps)
                    .init(device),
                )
            }
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
        .with_activation(self.text_activation.unwrap_or(self.activation))
        .with_mlp_width(self.text_mlp_width)
        .with_norm_eps(self.norm_eps)
        .with_causal(self.text_causal)
        .with_pool(self.text_pool.into())
        .with_projection_bias(self.text_proj_bias)
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
        // The grid side of a positional embedding with `extra` rows besides the patches.
        let square_side = |tokens: usize, extra: usize, key: &str| {
            let side = ((tokens.saturating_sub(extra)) as f64).sqrt().round() as usize;
            if side * side + extra == tokens && side > 0 {
                Ok(side)
            } else {
                Err(ConfigError::Inconsistent(format!(
                    "'{key}' has {tokens} rows, not a square grid{}: no CLIP architecture fits",
                    if extra == 1 { " plus one" } else { "" }
                )))
            }
        };

        // SigLIP: attention pooling instead of the class token (see `VisionPool::Map`).
        let siglip = shapes.contains_key("visual.head.probe");
        let (vision_layers, vision_width, vision_patch_size, image_resolution, vision_mlp_width);
        if shapes.contains_key("visual.proj") || siglip {
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
                usize::from(!siglip),
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
                1,
                "visual.attnpool.positional_embedding",
            )?;
            vision_layers = VisionLayers::ResNet(layers);
            vision_mlp_width = None;
            vision_patch_size = None;
            image_resolution = side * 32;
        }
        let transformer_width = dim("ln_final.weight", 0)?;
        let text_mlp = "transformer.resblocks.0.mlp.c_fc.weight";
        let text_mlp_width = match shapes.get(text_mlp).and_then(|s| s.first()) {
            Some(&w) if w != 4 * transformer_width => Some(w),
            _ => None,
        };
        let mut config = ClipConfig {
            embed_dim: dim("text_projection", 1)?,
            image_resolution,
            vision_layers,
            vision_width,
            vision_patch_size,
            context_length: dim("positional_embedding", 0)?,
            vocab_size: dim("token_embedding.weight", 0)?,
            transformer_heads: (transformer_width / 64).max(1),
            transformer_layers: count("transformer.resblocks."),
            vision_mlp_width,
            text_mlp_width,
            logit_bias: shapes.contains_key("logit_bias"),
            ..text(transformer_width)
        };
        if siglip {
            config.siglip_defaults();
        }
        config.validate()?;
        Ok(config)
    }

    /// What every SigLIP model shares beyond its shapes (HF's `SiglipConfig` defaults):
    /// attention pooling, an unmasked text tower read at its last position with a biased
    /// projection, tanh-GELU, eps 1e-6, the logit bias, and images squashed to the
    /// resolution with mean and deviation 0.5.
    pub fn siglip_defaults(&mut self) {
        self.vision_pool = VisionPool::Map;
        self.text_causal = false;
        self.text_pool = TextPoolName::Last;
        self.text_proj_bias = true;
        self.activation = Activation::GeluTanh;
        self.norm_eps = 1e-6;
        self.logit_bias = true;
        self.image_transform = Some(ImageTransform {
            mean: [0.5; 3],
            std: [0.5; 3],
            squash: true,
        });
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
        text_mlp_width: None,
        text_activation: None,
        norm_eps: clip_nn::LAYER_NORM_EPS,
        vision_pool: VisionPool::Token,
        text_causal: true,
        text_pool: TextPoolName::Eot,
        text_proj_bias: false,
        logit_bias: false,
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
