"""Gradient reversal: identity on the forward pass, gradient times -alpha on the backward.

Placing it between the EBR heads h_i and the modality discriminator lets one backward pass
train the discriminator to *minimise* the modality loss while the heads *maximise* it.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, alpha: float) -> Tensor:
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.alpha * grad, None


def reverse_grad(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x on the way forward; -alpha * dL/dx on the way back."""
    return _ReverseGrad.apply(x, float(alpha))
