//! Hugging Face `CLIPModel` and `SiglipModel` key names → OpenAI's.
//!
//! HF splits each attention's packed projection into `q_proj`/`k_proj`/`v_proj` and stores
//! the joint-space projections as `Linear` weights (`[embed, width]`, the transpose of
//! OpenAI's `proj` / `text_projection`). SigLIP's extra tensors keep OpenAI-style names here:
//! the patch conv's bias, the pooling head (`visual.head.{probe, attn, ln, mlp}`), the text
//! projection's bias (`text_projection_bias`) and `logit_bias`.

use std::collections::BTreeMap;

use burn_store::burn_pack::Tensor as PackTensor;

use super::tensors::{concat_rows, renamed, transposed};

/// Which Hugging Face model class wrote the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HfModel {
    /// `CLIPModel`.
    Clip,
    /// `SiglipModel` (SigLIP and the fixed-resolution SigLIP 2 checkpoints).
    Siglip,
}

/// Whether the keys are HF's, and whose.
pub(super) fn detect(tensors: &BTreeMap<String, PackTensor>) -> Option<HfModel> {
    let hf = tensors.keys().any(|k| {
        k.starts_with("vision_model.")
            || k.starts_with("text_model.")
            || k == "visual_projection.weight"
    });
    let siglip = tensors.contains_key("vision_model.head.probe")
        || tensors.contains_key("text_model.head.weight");
    hf.then_some(if siglip {
        HfModel::Siglip
    } else {
        HfModel::Clip
    })
}

/// One encoder layer's tensors (`layer_norm1`, `self_attn`, `mlp.fc1` …) and the MLPs'.
const LAYER: [(&str, &str); 5] = [
    ("self_attn.out_proj", "attn.out_proj"),
    ("layer_norm1", "ln_1"),
    ("layer_norm2", "ln_2"),
    ("mlp.fc1", "mlp.c_fc"),
    ("mlp.fc2", "mlp.c_proj"),
];

/// Renames, re-packs q/k/v and transposes the projections; `Err(key)` names a missing tensor.
pub(super) fn to_openai(
    mut tensors: BTreeMap<String, PackTensor>,
    model: HfModel,
) -> Result<BTreeMap<String, PackTensor>, String> {
    let layers = |prefix: &str| {
        tensors
            .keys()
            .filter_map(|k| {
                k.strip_prefix(prefix)?
                    .split('.')
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .map(|i| i + 1)
            .max()
            .unwrap_or(0)
    };
    let stacks = [
        ("text_model.encoder.layers.", "transformer.resblocks."),
        (
            "vision_model.encoder.layers.",
            "visual.transformer.resblocks.",
        ),
    ]
    .map(|(hf, oa)| (hf, oa, layers(hf)));

    let mut out = BTreeMap::new();
    let mut take = |key: &str| tensors.remove(key).ok_or_else(|| key.to_string());
    let mut direct = vec![
        ("logit_scale", "logit_scale"),
        (
            "text_model.embeddings.token_embedding.weight",
            "token_embedding.weight",
        ),
        (
            "text_model.embeddings.position_embedding.weight",
            "positional_embedding",
        ),
        ("text_model.final_layer_norm.weight", "ln_final.weight"),
        ("text_model.final_layer_norm.bias", "ln_final.bias"),
        (
            "vision_model.embeddings.patch_embedding.weight",
            "visual.conv1.weight",
        ),
        (
            "vision_model.embeddings.position_embedding.weight",
            "visual.positional_embedding",
        ),
        (
            "vision_model.post_layernorm.weight",
            "visual.ln_post.weight",
        ),
        ("vision_model.post_layernorm.bias", "visual.ln_post.bias"),
    ];
    let projections = match model {
        HfModel::Clip => {
            direct.extend([
                (
                    "vision_model.embeddings.class_embedding",
                    "visual.class_embedding",
                ),
                ("vision_model.pre_layrnorm.weight", "visual.ln_pre.weight"),
                ("vision_model.pre_layrnorm.bias", "visual.ln_pre.bias"),
            ]);
            [
                ("text_projection.weight", "text_projection"),
                ("visual_projection.weight", "visual.proj"),
            ]
            .as_slice()
        }
        HfModel::Siglip => {
            direct.extend([
                ("logit_bias", "logit_bias"),
                ("text_model.head.bias", "text_projection_bias"),
                (
                    "vision_model.embeddings.patch_embedding.bias",
                    "visual.conv1.bias",
                ),
                ("vision_model.head.probe", "visual.head.probe"),
                (
                    "vision_model.head.attention.in_proj_weight",
                    "visual.head.attn.in_proj_weight",
                ),
                (
                    "vision_model.head.attention.in_proj_bias",
                    "visual.head.attn.in_proj_bias",
                ),
            ]);
            for suffix in ["weight", "bias"] {
                for (from, to) in [
                    ("attention.out_proj", "attn.out_proj"),
                    ("layernorm", "ln"),
                    ("mlp.fc1", "mlp.c_fc"),
                    ("mlp.fc2", "mlp.c_proj"),
                ] {
                    let hf = format!("vision_model.head.{from}.{suffix}");
                    let name = format!("visual.head.{to}.{suffix}");
                    out.insert(name.clone(), renamed(take(&hf)?, &name));
                }
            }
            [("text_model.head.weight", "text_projection")].as_slice()
        }
    };
    for (hf, openai) in direct {
        out.insert(openai.to_string(), renamed(take(hf)?, openai));
    }
    for &(hf, openai) in projections {
        out.insert(openai.to_string(), transposed(take(hf)?, openai));
    }

    for (hf_prefix, openai_prefix, count) in stacks {
        for i in 0..count {
            let hf = format!("{hf_prefix}{i}.");
            let oa = format!("{openai_prefix}{i}.");
            for suffix in ["weight", "bias"] {
                let parts = ["q_proj", "k_proj", "v_proj"]
                    .iter()
                    .map(|p| take(&format!("{hf}self_attn.{p}.{suffix}")))
                    .collect::<Result<Vec<_>, _>>()?;
                let name = format!("{oa}attn.in_proj_{suffix}");
                out.insert(name.clone(), concat_rows(parts, &name)?);
                for (from, to) in LAYER {
                    let name = format!("{oa}{to}.{suffix}");
                    out.insert(
                        name.clone(),
                        renamed(take(&format!("{hf}{from}.{suffix}"))?, &name),
                    );
                }
            }
        }
    }
    Ok(out)
}
