"""The multimodal model: per-modality encoders -> (remedy adapter) -> fusion backbone -> head."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from mmc.backbones.base import FusionBackbone
from mmc.data.batch import Batch
from mmc.models.encoders import zero_missing
from mmc.remedies.base import Remedy


@dataclass
class ModelOutput:
    logits: Tensor  # [B] for binary, [B, C] for multi-class
    z: Tensor  # fused representation
    emb: dict[str, Tensor]  # per-modality embeddings as the backbone saw them
    losses: dict[str, Tensor] = field(default_factory=dict)  # weighted auxiliary losses


def make_head(in_dim: int, hidden: int, num_outputs: int, dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_outputs)
    )


class MultimodalModel(nn.Module):
    def __init__(
        self,
        encoders: nn.ModuleDict,
        backbone: FusionBackbone,
        head: nn.Module,
        remedy: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.encoders = encoders
        self.backbone = backbone
        self.head = head
        # The remedy owns its own modules (EBR heads, KD projections); registering it here
        # puts them in the optimiser and in every checkpoint.
        self.remedy = remedy
        # Skip the hook (and its re-masking) on every step when the remedy does not adapt.
        self._remedy_adapts = remedy is not None and type(remedy).adapt is not Remedy.adapt
        # Test-time fill-in for missing modalities (mmc.remedies.substitution); not a module
        # of its own unless it has parameters.
        self.substitution = None

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders)

    @property
    def rows_independent(self) -> bool:
        """Each row's fused output depends on that row alone, so variants of a batch may be
        stacked into one pass. A remedy adapter or a test-time substitution is not assumed to
        be row by row."""
        return (
            self.backbone.rows_independent
            and not self._remedy_adapts
            and (self.substitution is None or self.training)
        )

    def encode(self, x: dict[str, Tensor], mask: dict[str, Tensor]) -> dict[str, Tensor]:
        return zero_missing({m: enc(x[m]) for m, enc in self.encoders.items()}, mask)

    def fuse(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None = None
    ) -> ModelOutput:
        losses: dict[str, Tensor] = {}
        if self._remedy_adapts:
            emb = zero_missing(self.remedy.adapt(emb, mask, batch), mask)
        if self.substitution is not None and not self.training:
            emb, mask = self.substitution(emb, mask, self)
        out = self.backbone(emb, mask, batch)
        losses.update(out.losses)
        logits = out.logits if out.logits is not None else self.head(out.z)
        if logits.shape[-1] == 1:
            logits = logits.squeeze(-1)
        return ModelOutput(logits=logits, z=out.z, emb=emb, losses=losses)

    def forward(self, batch: Batch) -> ModelOutput:
        return self.fuse(self.encode(batch.x, batch.mask), batch.mask, batch)
