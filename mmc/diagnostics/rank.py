"""Rank of a representation matrix [N, D]: effective rank and numerical rank.

Singular values come from the eigenvalues of the D x D Gram matrix, which is far cheaper than
an SVD of the N x D matrix. The Gram matrix is formed in float64: in float32 its rounding noise
(~eps * s_max^2) turns every null direction into a singular value of ~sqrt(eps) * s_max, which
inflated the effective rank of an exactly rank-3 matrix to 3.016.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def centred(z: Tensor) -> Tensor:
    """z in float64 with each column's mean subtracted."""
    z = z.detach().to(torch.float64, copy=True)  # a copy of its own, centred in place
    return z.sub_(z.mean(dim=0, keepdim=True))


def gram(z: Tensor, center: bool = True) -> Tensor:
    """The float64 Gram matrix of z (columns centred) over its smaller side."""
    z = centred(z) if center else z.detach().double()
    return z.T @ z if z.shape[0] >= z.shape[1] else z @ z.T


def side_by_side_grams(parts: list[Tensor]) -> tuple[list[Tensor], Tensor]:
    """Column Gram matrices of each centred part [N, D_i] and of their concatenation [N, sum D_i].

    The parts' own Gram matrices are the diagonal blocks of the concatenation's, and the blocks
    above the diagonal mirror those below, so each block is multiplied once: M(M+1)/2 products
    of [N, D_i] matrices instead of M + 1 products, the largest of them [N, sum D_i] squared.
    Needs N >= sum D_i (columns as the smaller side).
    """
    c = [centred(p) for p in parts]
    rows = [[c[i].T @ c[j] for j in range(i + 1)] for i in range(len(c))]
    full = torch.cat(
        [
            torch.cat([*rows[i], *(rows[j][i].T for j in range(i + 1, len(c)))], 1)
            for i in range(len(c))
        ],
        0,
    )
    return [rows[i][i] for i in range(len(c))], full


def gram_singular_values(g: Tensor) -> Tensor:
    """Singular values (descending) of the matrix whose Gram matrix is g."""
    eig = torch.linalg.eigvalsh(g).clamp_min(0.0)
    return eig.sqrt().flip(0)


def singular_values(z: Tensor, center: bool = True) -> Tensor:
    return gram_singular_values(gram(z, center))


def effective_rank(s: Tensor | np.ndarray) -> float:
    """exp(Shannon entropy of the normalised singular values) (Roy & Vetterli, 2007)."""
    # NumPy on the host: a dozen element-wise steps on one short vector cost microseconds each
    # as torch ops, and this runs for every modality every epoch.
    s = _host(s)
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def numerical_rank(s: Tensor | np.ndarray, rtol: float) -> int:
    """Number of singular values above rtol times the largest."""
    s = _host(s)
    if s.size == 0 or s[0] <= 0:
        return 0
    return int((s > rtol * s[0]).sum())


def stats_of(s: Tensor, rtol: float) -> dict[str, float]:
    """Effective and numerical rank from singular values (descending)."""
    s = _host(s)  # one transfer for both
    return {"effective": effective_rank(s), "numerical": float(numerical_rank(s, rtol))}


def _host(s: Tensor | np.ndarray) -> np.ndarray:
    return s if isinstance(s, np.ndarray) else s.detach().cpu().double().numpy()


def rank_stats(z: Tensor, rtol: float) -> dict[str, float]:
    return stats_of(singular_values(z), rtol)
