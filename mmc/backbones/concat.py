"""Early fusion by concatenation: the plain baseline the collapse paper starts from."""

from __future__ import annotations

import torch
from torch import Tensor

from mmc.backbones.base import FusionBackbone, FusionOutput
from mmc.data.batch import Batch


class ConcatFusion(FusionBackbone):
    rows_independent = True

    def __init__(self, modalities: list[str], dim: int, num_outputs: int) -> None:
        super().__init__(modalities, dim, num_outputs)
        self.out_dim = dim * len(modalities)

    def forward(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None = None
    ) -> FusionOutput:
        return FusionOutput(z=torch.cat([emb[m] for m in self.modalities], dim=-1))
