"""Rank of a representation matrix [N, D]: effective rank and numerical rank.

Singular values come from the eigenvalues of the D x D Gram matrix, which is far cheaper than
an SVD of the N x D matrix. The Gram matrix is formed in float64: in float32 its rounding noise
(~eps * s_max^2) turns every null direction into a singular value of ~sqrt(eps) * s_max, which
inflated the effective rank of an exactly rank-3 matrix to 3.016.
"""

from __future__ import annotations

import torch
from torch import Tensor


def singular_values(z: Tensor, center: bool = True) -> Tensor:
    z = z.detach().double()
    if center:
        z = z - z.mean(dim=0, keepdim=True)
    gram = z.T @ z if z.shape[0] >= z.shape[1] else z @ z.T
    eig = torch.linalg.eigvalsh(gram).clamp_min(0.0)
    return eig.sqrt().flip(0)


def effective_rank(s: Tensor) -> float:
    """exp(Shannon entropy of the normalised singular values) (Roy & Vetterli, 2007)."""
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def numerical_rank(s: Tensor, rtol: float) -> int:
    """Number of singular values above rtol times the largest."""
    if s.numel() == 0 or s[0] <= 0:
        return 0
    return int((s > rtol * s[0]).sum())


def rank_stats(z: Tensor, rtol: float) -> dict[str, float]:
    s = singular_values(z)
    return {"effective": effective_rank(s), "numerical": float(numerical_rank(s, rtol))}
