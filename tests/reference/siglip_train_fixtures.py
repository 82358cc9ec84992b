"""What open_clip's SigLipLoss computes, and 20 training steps with it.

Writes (small, committed):
  tests/fixtures/train/sigmoid_loss.npz   raw image/text features [8, 32] (normalised inside,
      as open_clip's model does before its loss), logit_scale t and logit_bias b; the loss
      SigLipLoss()(norm(I), norm(T), exp(t), b) and its gradients with respect to the raw
      features, t and b (float32).
  tests/fixtures/train/tiny-vit/sigmoid.npz   the tiny ViT of train_fixtures.py (its init.pt and
      batches) given a logit bias of -10 and logit scale ln 10 (open_clip's init_logit_bias /
      init_logit_scale for SigLIP), trained 20 AdamW steps with SigLipLoss under the same
      optimiser, schedule, clipping and clamp as train_fixtures.py: losses[20], and final/<key>
      for the parameters compared there plus logit_scale and logit_bias.

Run after train_fixtures.py: .venv/bin/python tests/reference/siglip_train_fixtures.py
"""

import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.loss import SigLipLoss

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_fixtures import GRAD_KEYS, MODELS, ROOT, adamw_steps  # noqa: E402

from clip.model import CLIP  # noqa: E402


def loss_fixture():
    g = torch.Generator().manual_seed(31)
    image = torch.randn(8, 32, generator=g).requires_grad_()
    text = torch.randn(8, 32, generator=g).requires_grad_()
    scale = torch.tensor([math.log(10) + 0.3]).requires_grad_()
    bias = torch.tensor([-4.0]).requires_grad_()
    loss = SigLipLoss()(F.normalize(image, dim=-1), F.normalize(text, dim=-1), scale.exp(), bias)
    loss.backward()
    arrays = {
        "image": image.detach().numpy(), "text": text.detach().numpy(),
        "logit_scale": scale.detach().numpy(), "logit_bias": bias.detach().numpy(),
        "loss": np.array([loss.item()]),
        "grad/image": image.grad.numpy(), "grad/text": text.grad.numpy(),
        "grad/logit_scale": scale.grad.numpy(), "grad/logit_bias": bias.grad.numpy(),
    }
    np.savez(ROOT / "sigmoid_loss.npz", **arrays)
    print(f"sigmoid loss {loss.item():.6f}")


def steps_fixture():
    name = "tiny-vit"
    cfg = MODELS[name]
    out = ROOT / name
    batches = np.load(out / "reference.npz")
    pixels = torch.from_numpy(batches["pixels"])
    tokens = torch.from_numpy(batches["tokens"])
    model = CLIP(**cfg).float()
    model.load_state_dict(torch.load(out / "init.pt", weights_only=True))
    model.logit_bias = torch.nn.Parameter(torch.tensor([-10.0]))
    with torch.no_grad():
        model.logit_scale.fill_(math.log(10))
    siglip = SigLipLoss()

    def loss_fn(model, pixels, tokens):
        image = F.normalize(model.encode_image(pixels), dim=-1)
        text = F.normalize(model.encode_text(tokens), dim=-1)
        return siglip(image, text, model.logit_scale.exp(), model.logit_bias)

    losses = adamw_steps(model, loss_fn, pixels, tokens)
    params = dict(model.named_parameters())
    arrays = {"losses": np.array(losses, dtype=np.float64)}
    for k in [k for k in GRAD_KEYS if k in params] + ["logit_bias"]:
        arrays[f"final/{k}"] = params[k].detach().numpy().astype(np.float32)
    np.savez(out / "sigmoid.npz", **arrays)
    print(f"{name} sigmoid: first loss {losses[0]:.6f}, last {losses[-1]:.6f}, "
          f"bias {model.logit_bias.item():.4f}, scale {model.logit_scale.item():.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    loss_fixture()
    steps_fixture()
