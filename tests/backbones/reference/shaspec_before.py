"""Reference: ShaSpec as it was before its alignment loss was vectorised (commit f80b02c),
kept verbatim for tests/backbones/test_optimised_backbones.py.

ShaSpec (Wang et al., CVPR 2023): shared and specific feature modelling.

One *shared* encoder applied to every modality's embedding and one *specific* encoder per
modality (here small MLPs on the per-modality embeddings that the dataset's encoders make).
- Observed modality i: f_i = s_i + proj([s_i ; p_i]) (residual on the shared feature s_i,
  p_i the specific feature).
- Missing modality: f_i = mean of the shared features of the sample's observed modalities
  (the paper; `missing_fill: first` takes the first observed one, as the released code does).
- z = [f_1 ; ... ; f_M] -> the shared head.
Auxiliary losses (training only), over observed modalities:
- `shaspec_align`: distribution alignment of shared features, L1 between s_i and s_j for
  every modality pair observed in the same sample, weight 0.1;
- `shaspec_domain`: a linear domain classifier on specific features predicting which
  modality they came from, cross-entropy, weight 0.02.
A sample with no observed modality has nothing to fill from: every f_i is zero (documented
fallback; the head then predicts from its bias, i.e. the prior).
ShaSpec's schedule (warm up with all modalities, then drop random subsets) is not part of the
backbone: the missingness comes from the data (`data.missing_rate`).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmc.backbones.base import FusionBackbone, FusionOutput
from mmc.data.batch import Batch
from mmc.errors import choices_error

FILLS = ("mean", "first")


def _mlp(dim: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())


class ShaSpec(FusionBackbone):
    def __init__(
        self,
        modalities: list[str],
        dim: int,
        num_outputs: int,
        hidden: int | None = None,
        missing_fill: str = "mean",
        align_weight: float = 0.1,
        domain_weight: float = 0.02,
    ) -> None:
        super().__init__(modalities, dim, num_outputs)
        if missing_fill not in FILLS:
            raise choices_error("backbone.missing_fill", missing_fill, FILLS)
        hidden = hidden or dim
        self.shared = _mlp(dim, hidden)
        self.specific = nn.ModuleDict({m: _mlp(dim, hidden) for m in modalities})
        self.proj = nn.Linear(2 * hidden, hidden)
        self.domain_classifier = nn.Linear(hidden, len(modalities))
        self.missing_fill = missing_fill
        self.align_weight, self.domain_weight = align_weight, domain_weight
        self.out_dim = hidden * len(modalities)

    def features(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(fused [B, M, H], shared [B, M, H], specific [B, M, H]) before concatenation."""
        x = torch.stack([emb[m] for m in self.modalities], dim=1)
        observed = torch.stack([mask[m] for m in self.modalities], dim=1).unsqueeze(-1)
        shared = self.shared(x)
        specific = torch.stack([self.specific[m](emb[m]) for m in self.modalities], dim=1)
        fused_observed = shared + self.proj(torch.cat([shared, specific], dim=-1))
        weights = observed.to(shared.dtype)
        if self.missing_fill == "first":
            # one-hot on the first observed modality of each sample
            first = observed.squeeze(-1).to(torch.int8).cumsum(1).eq(1) & observed.squeeze(-1)
            weights = first.unsqueeze(-1).to(shared.dtype)
        # where() rather than multiplication: an unobserved shared feature is never read,
        # even if it is not finite.
        kept = torch.where(weights > 0, shared * weights, torch.zeros_like(shared))
        fill = kept.sum(1, keepdim=True) / weights.sum(1, keepdim=True).clamp_min(1)
        fused = torch.where(observed, fused_observed, fill.expand_as(fused_observed))
        return fused, shared, specific

    def forward(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None = None
    ) -> FusionOutput:
        fused, shared, specific = self.features(emb, mask)
        losses: dict[str, Tensor] = {}
        if self.training and batch is not None:
            observed = torch.stack([mask[m] for m in self.modalities], dim=1)
            if self.align_weight:
                losses["shaspec_align"] = self.align_weight * self.alignment_loss(shared, observed)
            if self.domain_weight:
                losses["shaspec_domain"] = self.domain_weight * self.domain_loss(specific, observed)
        return FusionOutput(z=fused.flatten(1), losses=losses)

    def alignment_loss(self, shared: Tensor, observed: Tensor) -> Tensor:
        total, pairs = shared.new_zeros(()), shared.new_zeros(())
        for i, j in itertools.combinations(range(len(self.modalities)), 2):
            both = observed[:, i] & observed[:, j]
            if bool(both.any()):
                total = total + F.l1_loss(shared[both, i], shared[both, j], reduction="sum")
                pairs = pairs + both.sum() * shared.shape[-1]
        return total / pairs.clamp_min(1)

    def domain_loss(self, specific: Tensor, observed: Tensor) -> Tensor:
        target = torch.arange(len(self.modalities), device=specific.device).expand_as(observed)
        if not bool(observed.any()):
            return specific.new_zeros(())
        return F.cross_entropy(self.domain_classifier(specific[observed]), target[observed])
