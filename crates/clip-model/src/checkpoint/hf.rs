//! Hugging Face `CLIPModel` key names → OpenAI's.
//!
//! HF splits each attention's packed projection into `q_proj`/`k_proj`/`v_proj` and stores
//! the two joint-space projections as `Linear` weights (`[embed, width]`, the transpose of
//! OpenAI's `proj` / `text_projection`).

use std::collections::BTreeMap;

use burn_store::burn_pack::Tensor as PackTensor;

use super::tensors::{concat_rows, renamed, transposed};

/// Whether the keys are HF's.
pub(super) fn is_huggingface(tensors: &BTreeMap<String, PackTensor>) -> bool {
    tensors.keys().any(|k| {
        k.starts_with("vision_model.")
            || k.starts_with("text_model.")
            || k == "visual_projection.weight"
    })
}

/// Renames, re-packs q/k/v and transposes the projections; `Err(key)` names a missing tensor.
pub(super) fn to_openai(
    mut tensors: BTreeMap<String, PackTensor>,
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
    let direct = [
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
            "vision_model.embeddings.class_embedding",
            "visual.class_embedding",
        ),
        (
            "vision_model.embeddings.patch_embedding.weight",
            "visual.conv1.weight",
        ),
        (
            "vision_model.embeddings.position_embedding.weight",
            "visual.positional_embedding",
        ),
        ("vision_model.pre_layrnorm.weight", "visual.ln_pre.weight"),
        ("vision_model.pre_layrnorm.bias", "visual.ln_pre.bias"),
        (
            "vision_model.post_layernorm.weight",
            "visual.ln_post.weight",
        ),
        ("vision_model.post_layernorm.bias", "visual.ln_post.bias"),
    ];
    for (hf, openai) in direct {
        out.insert(openai.to_string(), renamed(take(hf)?, openai));
    }
    for (hf, openai) in [
        ("text_projection.weight", "text_projection"),
        ("visual_projection.weight", "visual.proj"),
    ] {
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
                for (from, to) in [
                    ("self_attn.out_proj", "attn.out_proj"),
                    ("layer_norm1", "ln_1"),
                    ("layer_norm2", "ln_2"),
                    ("mlp.fc1", "mlp.c_fc"),
                    ("mlp.fc2", "mlp.c_proj"),
                ] {
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
