//! open_clip's SigLIP checkpoints (`timm/ViT-*-SigLIP*` repositories): a `CustomTextCLIP`
//! whose image tower is a timm ViT trunk with attention pooling (`visual.trunk.*`) and whose
//! text tower sits under `text.` with a biased `Linear` projection. Renamed to the keys HF's
//! SigLIP import gives (see [`super::hf`]), so both load into the same model.

use std::collections::BTreeMap;

use burn_store::burn_pack::Tensor as PackTensor;

use super::tensors::{concat_rows, renamed, reshaped, transposed};

/// Whether the keys are a timm trunk with attention pooling.
pub(super) fn detect(tensors: &BTreeMap<String, PackTensor>) -> bool {
    tensors.contains_key("visual.trunk.attn_pool.latent")
}

/// Key renames inside a timm block or pooling head: `(timm, OpenAI)`.
const RENAMES: [(&str, &str); 9] = [
    ("visual.trunk.patch_embed.proj.", "visual.conv1."),
    ("visual.trunk.blocks.", "visual.transformer.resblocks."),
    (".norm1.", ".ln_1."),
    (".norm2.", ".ln_2."),
    (".attn.qkv.weight", ".attn.in_proj_weight"),
    (".attn.qkv.bias", ".attn.in_proj_bias"),
    (".attn.proj.", ".attn.out_proj."),
    (".mlp.fc1.", ".mlp.c_fc."),
    (".mlp.fc2.", ".mlp.c_proj."),
];

/// Renames every tensor; `Err(key)` names a missing one.
pub(super) fn to_openai(
    mut tensors: BTreeMap<String, PackTensor>,
) -> Result<BTreeMap<String, PackTensor>, String> {
    let mut take = |key: &str| tensors.remove(key).ok_or_else(|| key.to_string());
    let mut out = BTreeMap::new();
    let mut put = |name: &str, tensor: PackTensor| {
        out.insert(name.to_string(), renamed(tensor, name));
    };

    // The pooling head: a learned latent, q and kv projections packed as one in_proj.
    let pool = "visual.trunk.attn_pool.";
    put("visual.head.probe", take(&format!("{pool}latent"))?);
    for suffix in ["weight", "bias"] {
        let name = format!("visual.head.attn.in_proj_{suffix}");
        let parts = vec![
            take(&format!("{pool}q.{suffix}"))?,
            take(&format!("{pool}kv.{suffix}"))?,
        ];
        put(&name, concat_rows(parts, &name)?);
        for (from, to) in [
            ("proj", "attn.out_proj"),
            ("norm", "ln"),
            ("mlp.fc1", "mlp.c_fc"),
            ("mlp.fc2", "mlp.c_proj"),
        ] {
            let tensor = take(&format!("{pool}{from}.{suffix}"))?;
            put(&format!("visual.head.{to}.{suffix}"), tensor);
        }
        put(
            &format!("visual.ln_post.{suffix}"),
            take(&format!("visual.trunk.norm.{suffix}"))?,
        );
    }
    // `[1, N, W]` positions (no class token) → `[N, W]`.
    let positions = take("visual.trunk.pos_embed")?;
    let dims = positions.shape.to_vec();
    put(
        "visual.positional_embedding",
        reshaped(positions, dims.into_iter().skip(1).collect()),
    );
    // The text projection is a `Linear` (`[E, W]` and a bias).
    put("text_projection_bias", take("text.text_projection.bias")?);
    let projection = take("text.text_projection.weight")?;
    out.insert(
        "text_projection".into(),
        transposed(projection, "text_projection"),
    );

    for (key, tensor) in tensors {
        let mut name = key.strip_prefix("text.").unwrap_or(&key).to_string();
        if name.starts_with("visual.") {
            for (from, to) in RENAMES {
                name = name.replace(from, to);
            }
        }
        out.insert(name.clone(), renamed(tensor, &name));
    }
    Ok(out)
}
