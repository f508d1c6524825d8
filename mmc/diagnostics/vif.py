"""Average variance inflation factor (VIF) of a representation (collapse paper Table 7).

VIF_j = 1 / (1 - R_j^2), R_j^2 from regressing feature j on all the others; equivalently the
j-th diagonal entry of the inverse correlation matrix. Constant features (dead ReLUs) carry no
variance to inflate and are left out; a tiny ridge keeps exactly collinear sets finite.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def variance_inflation(z: Tensor, ridge: float = 1e-6) -> Tensor:
    z = z.detach().double()
    std = z.std(dim=0)
    live = std > 1e-8 * max(float(std.max()), 1e-30) if z.numel() else std > 0
    z = z[:, live]
    if z.shape[1] < 2 or z.shape[0] < 3:
        return torch.full((int(z.shape[1]),), math.nan, dtype=torch.float64)
    corr = torch.corrcoef(z.T)
    corr = corr + ridge * torch.eye(len(corr), dtype=corr.dtype)
    return torch.linalg.inv(corr).diagonal()


def average_vif(z: Tensor) -> float:
    v = variance_inflation(z)
    return float(v.mean()) if v.numel() else math.nan


def modality_vif(blocks: list[Tensor], ridge: float = 1e-3) -> float:
    """Average block VIF across modalities: 1 / (1 - R^2_m), R^2_m the share of modality m's
    fusion-input variance explained linearly by all the other modalities' fusion inputs.

    The per-feature VIF of a wide representation is dominated by within-modality redundancy
    (hundreds of ReLU units spanning a few directions); the block version isolates the
    cross-modal multicollinearity that the collapse paper reports growing with M (Table 7).
    """
    if len(blocks) < 2:
        return math.nan
    cols = [b.detach().double() - b.detach().double().mean(dim=0, keepdim=True) for b in blocks]
    out = []
    for m, y in enumerate(cols):
        x = torch.cat([c for k, c in enumerate(cols) if k != m], dim=1)
        sst = float((y**2).sum())
        if sst <= 0:
            continue
        gram = x.T @ x
        gram = gram + ridge * gram.diagonal().mean().clamp_min(1e-12) * torch.eye(
            len(gram), dtype=gram.dtype
        )
        coef = torch.linalg.solve(gram, x.T @ y)
        r2 = 1.0 - float(((y - x @ coef) ** 2).sum()) / sst
        out.append(1.0 / max(1.0 - r2, 1e-12))
    return float(sum(out) / len(out)) if out else math.nan
