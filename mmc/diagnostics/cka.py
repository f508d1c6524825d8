"""Linear CKA (Kornblith et al., 2019): similarity of two representations of the same samples."""

from __future__ import annotations

import torch
from torch import Tensor


def linear_cka(x: Tensor, y: Tensor) -> float:
    """||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on centred features; in [0, 1]."""
    x = x.detach().double()
    y = y.detach().double()
    x = x - x.mean(dim=0, keepdim=True)
    y = y - y.mean(dim=0, keepdim=True)
    denom = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    if denom <= 0:
        return float("nan")
    return float(torch.linalg.matrix_norm(y.T @ x) ** 2 / denom)
