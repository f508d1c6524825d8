"""Which modalities each fusion-head neuron responds to (the mechanism of Lemma 1 / Theorem 1).

For a head whose first layer reads the concatenated per-modality blocks z = [z_1, ..., z_M],
neuron n's pre-activation is sum_m w_{n,m} . z_m. Its response share to modality m is the
variance of w_{n,m} . z_m over the test samples divided by the sum of those variances. A
neuron is *polysemantic across modalities* when at least two modalities each hold a share of
at least `threshold`; reported is the fraction of such neurons (among live ones), and each
modality's mean share (how much of the head's input drive the eliminated modality gets).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def first_linear(head: nn.Module) -> nn.Linear:
    for layer in head.modules():
        if isinstance(layer, nn.Linear):
            return layer
    raise ValueError("the head has no Linear layer")


@torch.no_grad()
def neuron_shares(weight: Tensor, blocks: list[Tensor]) -> Tensor:
    """[H, M] response share of each neuron to each modality block."""
    w = weight.detach().double()
    out, start = [], 0
    for z in blocks:
        d = z.shape[1]
        drive = z.detach().double() @ w[:, start : start + d].T  # [N, H]
        out.append(drive.var(dim=0))
        start += d
    var = torch.stack(out, dim=1)
    return var / var.sum(dim=1, keepdim=True).clamp_min(1e-30)


def cross_modal_polysemanticity(
    head: nn.Module, blocks: dict[str, Tensor], threshold: float = 0.1
) -> dict[str, float]:
    layer = first_linear(head)
    mods = list(blocks)
    if layer.weight.shape[1] != sum(b.shape[1] for b in blocks.values()):
        return {"fraction": math.nan, "note": "the head does not read per-modality blocks"}
    shares = neuron_shares(layer.weight, [blocks[m] for m in mods])
    live = torch.isfinite(shares).all(dim=1) & (shares.sum(dim=1) > 0)
    shares = shares[live]
    if len(shares) == 0:
        return {"fraction": math.nan}
    poly = (shares >= threshold).sum(dim=1) >= 2
    out: dict[str, float] = {"fraction": float(poly.double().mean()), "threshold": threshold}
    for k, m in enumerate(mods):
        out[f"share/{m}"] = float(shares[:, k].mean())
    return out
