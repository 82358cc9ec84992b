//! Key names: from what files hold to OpenAI's names, and from those to Burn module paths.

use std::collections::BTreeMap;

use burn_store::burn_pack::Tensor as PackTensor;

/// Entries that are state but not weights (BatchNorm counters, buffers, TorchScript
/// attributes OpenAI's `build_model` deletes).
fn ignored(key: &str) -> bool {
    key.ends_with("num_batches_tracked")
        || key.ends_with("position_ids")
        || key.ends_with("attn_mask")
        || matches!(key, "input_resolution" | "context_length" | "vocab_size")
}

/// Unwraps `{"state_dict": …}` and DataParallel's `module.` prefix, drops non-weights.
pub(super) fn normalize(tensors: BTreeMap<String, PackTensor>) -> BTreeMap<String, PackTensor> {
    let wrapped = tensors.keys().any(|k| k.starts_with("state_dict."));
    tensors
        .into_iter()
        .filter_map(|(key, mut tensor)| {
            let key = if wrapped {
                key.strip_prefix("state_dict.")?.to_string()
            } else {
                key
            };
            let key = key
                .strip_prefix("module.")
                .map(str::to_string)
                .unwrap_or(key);
            if ignored(&key) {
                return None;
            }
            tensor.name = key.clone();
            Some((key, tensor))
        })
        .collect()
}

/// Top-level OpenAI keys that belong to the text encoder (grouped under `text.` here).
const TEXT_KEYS: [&str; 6] = [
    "token_embedding",
    "positional_embedding",
    "transformer",
    "ln_final",
    "text_projection",
    "text_projection_bias",
];

/// Where OpenAI's key names and this crate's module paths differ: `(OpenAI, Burn)`.
const RENAMES: [(&str, &str); 4] = [
    ("attn.in_proj_weight", "attn.in_proj.weight"),
    ("attn.in_proj_bias", "attn.in_proj.bias"),
    ("downsample.0.", "downsample.conv."),
    ("downsample.1.", "downsample.bn."),
];

/// OpenAI key → Burn module path (before the PyTorch adapter renames norm weights).
pub(super) fn to_burn(key: &str) -> String {
    let mut path = match key.split_once('.') {
        Some((head, _)) if TEXT_KEYS.contains(&head) => format!("text.{key}"),
        None if TEXT_KEYS.contains(&key) => format!("text.{key}"),
        _ => key.to_string(),
    };
    for (openai, burn) in RENAMES {
        path = path.replace(openai, burn);
    }
    path
}

/// Burn module path → OpenAI key: for writing checkpoints and naming missing tensors.
pub(super) fn to_openai(path: &str) -> String {
    let mut key = path.strip_prefix("text.").unwrap_or(path).to_string();
    for (openai, burn) in RENAMES {
        key = key.replace(burn, openai);
    }
    if let Some(stem) = key.strip_suffix(".gamma") {
        key = format!("{stem}.weight");
    } else if let Some(stem) = key.strip_suffix(".beta") {
        key = format!("{stem}.bias");
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_paths_round_trip() {
        for key in [
            "token_embedding.weight",
            "positional_embedding",
            "transformer.resblocks.3.attn.in_proj_weight",
            "visual.transformer.resblocks.0.attn.in_proj_bias",
            "visual.layer2.0.downsample.0.weight",
            "visual.layer2.0.downsample.1.running_var",
            "logit_scale",
            "visual.proj",
            "text_projection_bias",
            "visual.head.attn.in_proj_weight",
            "logit_bias",
        ] {
            assert_eq!(to_openai(&to_burn(key)), key, "{key}");
        }
        assert_eq!(
            to_burn("transformer.resblocks.0.ln_1.weight"),
            "text.transformer.resblocks.0.ln_1.weight"
        );
        assert_eq!(
            to_burn("visual.transformer.resblocks.0.ln_1.weight"),
            "visual.transformer.resblocks.0.ln_1.weight"
        );
        assert_eq!(to_openai("text.ln_final.gamma"), "ln_final.weight");
    }
}
