//! open_clip's pretrained tags by name, as `open_clip.create_model_and_transforms("ViT-B-32",
//! pretrained="laion2b_s34b_b79k")` resolves them: `ViT-B-32/laion2b_s34b_b79k` names the
//! weights in a Hugging Face hub repository, and the architecture comes from open_clip's
//! configuration of the model (head widths, MLP ratio, activation), written beside the
//! download as `open_clip_config.json` for [`Checkpoint::config`](crate::Checkpoint::config).
//!
//! The table is data generated from the open-clip-torch package by
//! `tests/reference/gen_open_clip_models.py` (its version in [`Table::open_clip_version`]):
//! the tags of every architecture this project builds (SigLIP's with their timm trunks).
//! ```
//! let table = clip_model::hub::open_clip::table();
//! assert!(table.models.contains_key("ViT-SO400M-14-SigLIP"));
//! assert_eq!(table.timm_trunks["vit_so400m_patch14_siglip_224"].heads, 16);
//! ```

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// open_clip's configurations and tags.
#[derive(Debug, Deserialize)]
pub struct Table {
    /// The open-clip-torch release the table was generated from.
    pub open_clip_version: String,
    /// `model_cfg` of each architecture, as in open_clip's `model_configs/*.json`.
    pub models: BTreeMap<String, serde_json::Value>,
    /// Every tag of those architectures.
    pub pretrained: Vec<Pretrained>,
    /// What SigLIP's timm image trunks do not say in their weights, by timm model name.
    #[serde(default)]
    pub timm_trunks: BTreeMap<String, TimmTrunk>,
}

/// A timm ViT trunk's settings (read from the installed timm when the table was generated).
#[derive(Debug, Clone, Deserialize)]
pub struct TimmTrunk {
    /// Attention heads (16 in SO400M's 1152 width: not `width / 64`).
    pub heads: usize,
    /// The MLP non-linearity (`gelu` or `gelu_tanh`).
    pub activation: String,
    /// The norms' epsilon.
    pub norm_eps: f64,
}

/// One pretrained tag.
#[derive(Debug, Clone, Deserialize)]
pub struct Pretrained {
    /// open_clip's architecture name (`ViT-B-32`).
    pub model: String,
    /// The tag (`laion2b_s34b_b79k`).
    pub tag: String,
    /// The hub repository of the weights (`laion/CLIP-ViT-B-32-laion2B-s34B-b79K`).
    pub hf_hub: String,
    /// Where open_clip downloaded the weights before the hub, if anywhere.
    pub url: String,
    /// Whether the weights were trained with QuickGELU (the tag's word over the model's).
    pub quick_gelu: bool,
    /// Per-channel mean of the preprocessing.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of the preprocessing.
    pub std: Vec<f32>,
    /// `shortest` (resize the short side, centre crop) or `squash`.
    pub resize_mode: String,
}

static DATA: &str = include_str!("../../data/open_clip_models.json");

/// The table (parsed once).
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| serde_json::from_str(DATA).expect("the generated table parses"))
}

/// The tag `name` names: `MODEL/TAG`, the tag in any case (as open_clip lower-cases it).
pub fn find(name: &str) -> Option<&'static Pretrained> {
    let (model, tag) = name.split_once('/')?;
    table()
        .pretrained
        .iter()
        .find(|p| p.model == model && p.tag.eq_ignore_ascii_case(tag))
}

impl Pretrained {
    /// `MODEL/TAG`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.model, self.tag)
    }

    /// The hub repository open_clip takes this model's tokenizer from (`hf_tokenizer_name`:
    /// SigLIP's), or `None` for OpenAI's tokenizer.
    pub fn tokenizer_repository(&self) -> Option<&'static str> {
        let model = table().models.get(&self.model)?;
        model.get("text_cfg")?.get("hf_tokenizer_name")?.as_str()
    }

    /// The `open_clip_config.json` an hf-hub repository of these weights would hold: the
    /// model's configuration with the tag's activation, and its preprocessing.
    pub fn config_json(&self) -> String {
        let mut model = table().models[&self.model].clone();
        model["quick_gelu"] = self.quick_gelu.into();
        let config = serde_json::json!({
            "model_cfg": model,
            "preprocess_cfg": {
                "mean": self.mean,
                "std": self.std,
                "resize_mode": self.resize_mode,
            },
        });
        serde_json::to_string_pretty(&config).expect("JSON values serialise") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_resolve_to_their_repositories_and_architectures() {
        let t = find("ViT-B-32/laion2b_s34b_b79k").unwrap();
        assert_eq!(t.hf_hub, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K");
        assert!(!t.quick_gelu);
        assert_eq!(t.tokenizer_repository(), None);
        // SigLIP's tokenizer may live in another model's repository.
        let l = find("ViT-L-16-SigLIP-256/webli").unwrap();
        assert_eq!(l.hf_hub, "timm/ViT-L-16-SigLIP-256");
        assert_eq!(l.tokenizer_repository(), Some("timm/ViT-B-16-SigLIP"));
        let g = find("ViT-bigG-14/LAION2B_S39B_B160K").unwrap();
        let json: serde_json::Value = serde_json::from_str(&g.config_json()).unwrap();
        assert_eq!(json["model_cfg"]["vision_cfg"]["head_width"], 104);
        assert_eq!(json["model_cfg"]["vision_cfg"]["mlp_ratio"], 4.9231);
        // OpenAI's weights through open_clip keep QuickGELU.
        assert!(find("ViT-B-32/openai").unwrap().quick_gelu);
        assert!(find("ViT-B-32/no_such_tag").is_none() && find("ViT-B/32").is_none());
        // SigLIP: the table's config names the timm trunk, whose heads the table knows.
        let s = find("ViT-SO400M-14-SigLIP/webli").unwrap();
        assert_eq!(s.hf_hub, "timm/ViT-SO400M-14-SigLIP");
        assert_eq!((s.resize_mode.as_str(), s.mean[0]), ("squash", 0.5));
        let json: serde_json::Value = serde_json::from_str(&s.config_json()).unwrap();
        let trunk = json["model_cfg"]["vision_cfg"]["timm_model_name"]
            .as_str()
            .unwrap();
        assert_eq!(table().timm_trunks[trunk].heads, 16);
        assert!(
            table().pretrained.len() >= 120,
            "{}",
            table().pretrained.len()
        );
    }
}
