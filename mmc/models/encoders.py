"""Per-modality encoders: input tensor [B, ...] -> embedding [B, out_dim]."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mmc.data.batch import ModalitySpec


class MLPEncoder(nn.Module):
    """Flattens the input and applies Linear-ReLU blocks, then a final Linear to out_dim."""

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: int,
        hidden: list[int] = (64,),
        dropout: float = 0.0,
        final_activation: bool = True,
    ) -> None:
        super().__init__()
        sizes = [math.prod(spec.shape), *hidden, out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            last = i == len(sizes) - 2
            if not last or final_activation:
                layers.append(nn.ReLU())
            if not last and dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1).float())


class EmbeddingBagEncoder(nn.Module):
    """Codes as learned embeddings: [B, L] token ids (0 = padding) -> mean embedding."""

    def __init__(self, spec: ModalitySpec, out_dim: int, embed_dim: int = 64) -> None:
        super().__init__()
        if spec.vocab_size is None:
            raise ValueError("EmbeddingBagEncoder needs a modality with a vocab_size")
        self.bag = nn.EmbeddingBag(spec.vocab_size, embed_dim, mode="mean", padding_idx=0)
        self.proj = nn.Sequential(nn.Linear(embed_dim, out_dim), nn.ReLU())
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.bag(x.long()))


def zero_missing(emb: dict[str, Tensor], mask: dict[str, Tensor]) -> dict[str, Tensor]:
    """Embeddings of missing modalities set to zero, so their inputs can never leak."""
    out = {}
    for m, e in emb.items():
        # On CPU a fully observed batch is checked in microseconds and skips a masked copy
        # plus its backward; on GPU that check would stall the stream, so always mask there.
        # (Not under vmap, as in mmc.batched_seeds: the check is data-dependent control flow.)
        if (
            e.device.type == "cpu"
            and not torch._C._functorch.is_batchedtensor(mask[m])
            and bool(mask[m].all())
        ):
            out[m] = e
        else:
            out[m] = torch.where(mask[m].unsqueeze(-1), e, 0.0)
    return out
