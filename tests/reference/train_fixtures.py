"""What OpenAI's model code computes when trained with the paper's contrastive loss.

Writes tests/fixtures/train/ (small, committed):
  tiny-vit/init.pt      a random tiny ViT CLIP (float32 state dict, OpenAI keys)
  tiny-rn/init.pt       a random tiny ModifiedResNet CLIP (BatchNorm in training mode)
  */reference.npz       batches [S, N, 3, R, R] pixels and [S, N, L] int64 tokens;
                        loss0 and grad/<key> for a few named parameters on batch 0 (model in
                        train mode, fp32); losses[20]: the loss of each of 20 AdamW steps
                        (param groups: decay on rank >= 2 tensors that are not embeddings,
                        linear warmup then cosine, global grad-norm clipping, logit scale
                        clamped to [0, ln 100] after each step) on batch (step % S);
                        final/<key> the same parameters after the 20 steps.
  */options.json        the optimiser settings used.

Loss (the paper's pseudocode): L2-normalised features, logits = exp(t) * I @ T.T,
(CE(logits, arange) + CE(logits.T, arange)) / 2.

Run: .venv/bin/python tests/reference/train_fixtures.py
"""

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from clip.model import CLIP

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "train"

# Head counts are what build_model infers from a state dict (width // 64), so the checkpoint
# describes the model that computed the reference.
MODELS = {
    "tiny-vit": dict(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=128,
                     vision_patch_size=8, context_length=16, vocab_size=500,
                     transformer_width=128, transformer_heads=2, transformer_layers=2),
    "tiny-rn": dict(embed_dim=32, image_resolution=32, vision_layers=(1, 1, 1, 1), vision_width=8,
                    vision_patch_size=None, context_length=16, vocab_size=500,
                    transformer_width=64, transformer_heads=1, transformer_layers=1),
}

OPTIONS = dict(lr=2e-3, weight_decay=0.2, beta_1=0.9, beta_2=0.98, epsilon=1e-6,
               warmup_steps=5, total_steps=20, max_grad_norm=1.0)

# Parameters whose gradients are compared (OpenAI keys); those absent in a model are skipped.
GRAD_KEYS = [
    "logit_scale", "text_projection", "token_embedding.weight", "positional_embedding",
    "ln_final.weight", "transformer.resblocks.0.attn.in_proj_weight",
    "transformer.resblocks.0.attn.out_proj.bias", "transformer.resblocks.0.mlp.c_fc.weight",
    "visual.proj", "visual.conv1.weight", "visual.class_embedding", "visual.ln_post.bias",
    "visual.transformer.resblocks.1.mlp.c_proj.weight",
    "visual.bn1.weight", "visual.layer1.0.conv2.weight", "visual.layer2.0.downsample.1.bias",
    "visual.attnpool.q_proj.weight", "visual.attnpool.positional_embedding",
]

BATCHES, BATCH = 3, 8


def lr_at(step):
    o = OPTIONS
    if step < o["warmup_steps"]:
        return o["lr"] * (step + 1) / o["warmup_steps"]
    e = step - o["warmup_steps"]
    total = max(o["total_steps"] - o["warmup_steps"], 1)
    return 0.5 * (1 + math.cos(math.pi * min(e / total, 1.0))) * o["lr"]


def contrastive_loss(model, pixels, tokens):
    image = model.encode_image(pixels)
    text = model.encode_text(tokens)
    image = image / image.norm(dim=1, keepdim=True)
    text = text / text.norm(dim=1, keepdim=True)
    logits = model.logit_scale.exp() * image @ text.t()
    labels = torch.arange(len(logits))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def adamw_steps(model, loss_fn, pixels, tokens):
    """OPTIONS' 20 AdamW steps (decay groups, warmup + cosine, clipping, logit-scale clamp) of
    loss_fn(model, pixels, tokens) on batch step % S; the losses."""
    model.train()
    decay = [p for k, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in k]
    rest = [p for k, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in k)]
    o = OPTIONS
    optim = torch.optim.AdamW(
        [{"params": decay, "weight_decay": o["weight_decay"]},
         {"params": rest, "weight_decay": 0.0}],
        lr=o["lr"], betas=(o["beta_1"], o["beta_2"]), eps=o["epsilon"])
    losses = []
    for step in range(o["total_steps"]):
        for g in optim.param_groups:
            g["lr"] = lr_at(step)
        optim.zero_grad()
        s = step % pixels.shape[0]
        loss = loss_fn(model, pixels[s], tokens[s])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), o["max_grad_norm"])
        optim.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())
    return losses


def make_tokens(gen, cfg):
    vocab, ctx = cfg["vocab_size"], cfg["context_length"]
    tokens = torch.zeros(BATCHES, BATCH, ctx, dtype=torch.int64)
    for s in range(BATCHES):
        for i in range(BATCH):
            n = int(torch.randint(1, ctx - 1, (1,), generator=gen))
            tokens[s, i, 0] = vocab - 2  # start of text
            tokens[s, i, 1:n + 1] = torch.randint(1, vocab - 2, (n,), generator=gen)
            tokens[s, i, n + 1] = vocab - 1  # end of text: the row's largest id
    return tokens


def build(name, cfg, seed):
    torch.manual_seed(seed)
    model = CLIP(**cfg).float()
    # Non-trivial norms, so their gradients are not all alike.
    with torch.no_grad():
        for key, p in model.named_parameters():
            if key.endswith(("ln_1.weight", "ln_2.weight", "ln_final.weight", "ln_post.weight")) \
                    or ("bn" in key and key.endswith("weight")):
                p.add_(0.1 * torch.randn_like(p))
    return model


def main():
    for seed, (name, cfg) in enumerate(MODELS.items()):
        out = ROOT / name
        out.mkdir(parents=True, exist_ok=True)
        model = build(name, cfg, seed)
        torch.save(model.state_dict(), out / "init.pt")
        gen = torch.Generator().manual_seed(100 + seed)
        r = cfg["image_resolution"]
        pixels = torch.randn(BATCHES, BATCH, 3, r, r, generator=gen)
        tokens = make_tokens(gen, cfg)
        arrays = {"pixels": pixels.numpy(), "tokens": tokens.numpy()}

        model.train()
        loss = contrastive_loss(model, pixels[0], tokens[0])
        loss.backward()
        params = dict(model.named_parameters())
        keys = [k for k in GRAD_KEYS if k in params]
        arrays["loss0"] = np.array([loss.item()], dtype=np.float64)
        for k in keys:
            arrays[f"grad/{k}"] = params[k].grad.detach().numpy().astype(np.float32)

        model = build(name, cfg, seed)  # the same init again, fresh state
        losses = adamw_steps(model, contrastive_loss, pixels, tokens)
        arrays["losses"] = np.array(losses, dtype=np.float64)
        params = dict(model.named_parameters())
        for k in keys:
            arrays[f"final/{k}"] = params[k].detach().numpy().astype(np.float32)
        np.savez(out / "reference.npz", **arrays)
        (out / "options.json").write_text(json.dumps(OPTIONS, indent=2) + "\n")
        print(f"{name}: loss0 {arrays['loss0'][0]:.6f}, last loss {losses[-1]:.6f}, "
              f"{len(keys)} parameters")


if __name__ == "__main__":
    main()
