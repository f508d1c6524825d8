"""Late fusion: each modality predicts alone; logits are averaged over observed modalities."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmc.backbones.base import FusionBackbone, FusionOutput
from mmc.data.batch import Batch


class LateFusion(FusionBackbone):
    rows_independent = True

    def __init__(self, modalities: list[str], dim: int, num_outputs: int, hidden: int = 64) -> None:
        super().__init__(modalities, dim, num_outputs)
        self.heads = nn.ModuleDict(
            {
                m: nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, num_outputs))
                for m in modalities
            }
        )
        self.out_dim = dim * len(modalities)

    def forward(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None = None
    ) -> FusionOutput:
        logits = torch.stack([self.heads[m](emb[m]) for m in self.modalities], dim=1)
        weights = torch.stack([mask[m] for m in self.modalities], dim=1).to(logits.dtype)
        # A row with nothing observed averages over nothing: its logits are 0 (uniform).
        fused = (logits * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True).clamp_min(1)
        z = torch.cat([emb[m] for m in self.modalities], dim=-1)
        return FusionOutput(z=z, logits=fused)
