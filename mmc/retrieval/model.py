"""Dual encoder over frozen features: one projection head per modality, and its losses.

The head is the form RepBlend uses for both modalities (image 2304->2304, text 768->2304):
Linear, GELU, Linear, dropout, residual to the first Linear's output, LayerNorm. In pixel
space an image encoder sits in front of the image head (frozen for symmetric matching).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ProjectionHead(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)
        self.fc = nn.Linear(out_dim, out_dim)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        p = self.proj(x)
        return self.norm(p + self.drop(self.fc(F.gelu(p))))


class DualEncoder(nn.Module):
    """`image_encoder` (optional, pixels -> features) -> image head; text head on embeddings."""

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        embed_dim: int | None = None,
        dropout: float = 0.0,
        temperature: float = 0.07,
        image_encoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        embed_dim = embed_dim or img_dim
        self.image_encoder = image_encoder
        self.image_head = ProjectionHead(img_dim, embed_dim, dropout)
        self.text_head = ProjectionHead(txt_dim, embed_dim, dropout)
        self.temperature = temperature

    def branch_of(self, name: str) -> str:
        return "text" if name.startswith("text_head.") else "image"

    def encode_image(self, x: Tensor) -> Tensor:
        if self.image_encoder is not None:
            x = self.image_encoder(x)
        return F.normalize(self.image_head(x), dim=-1)

    def encode_text(self, y: Tensor) -> Tensor:
        return F.normalize(self.text_head(y), dim=-1)

    def forward(self, x: Tensor, y: Tensor, mix: tuple[float, Tensor] | None = None) -> Tensor:
        """Similarity logits [B_img, B_txt] = cosine / temperature.

        `mix=(lam, perm)` blends representations (RepBlend): each pair with pair perm[i], by
        the same lam and perm in both modalities, on the features entering the heads.
        """
        if self.image_encoder is not None:
            x = self.image_encoder(x)
        if mix is not None:
            lam, perm = mix
            x = lam * x + (1.0 - lam) * x[perm]
            y = lam * y + (1.0 - lam) * y[perm]
        img = F.normalize(self.image_head(x), dim=-1)
        return img @ self.encode_text(y).T / self.temperature


def contrastive_loss(logits: Tensor) -> Tensor:
    """Symmetric cross-entropy with pair i matching pair i (CLIP's loss)."""
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def soft_bce_loss(logits: Tensor, target: Tensor) -> Tensor:
    """LoRS's weighted BCE ("WBCE") between p = sigmoid(logits) and a soft similarity S.

    As in the reference code: per entry -S·log(p + 1e-6) - (1 - S)·log(1 - p + 1e-6), with S
    not clamped (a learned S may leave [0, 1]); the positives are the entries with S > 0.5,
    and the mean over positives and the mean over the rest get equal weight (each sum is
    divided by its count + 1e-6, so an empty group contributes 0).
    """
    p = torch.sigmoid(logits)
    loss = -target * torch.log(p + 1e-6) - (1.0 - target) * torch.log(1.0 - p + 1e-6)
    pos = (target > 0.5).detach()
    zero = loss.new_zeros(())
    loss_pos = torch.where(pos, loss, zero).sum() / (pos.sum() + 1e-6)
    loss_neg = torch.where(~pos, loss, zero).sum() / ((~pos).sum() + 1e-6)
    return 0.5 * (loss_pos + loss_neg)
