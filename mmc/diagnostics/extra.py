"""The collapse paper's diagnostics, computed at the end of any run (`diagnostics.extra`).

cka              linear CKA of the fused representation with each modality's fusion input
vif              average VIF: across modality blocks of the fusion input ("modality") and
                 across features of the fused representation ("feature")
semantic         semantic loss (linear probe) of the weakest modality's encoder in the fused
                 model ("multimodal prefix") vs the same encoder trained alone
polysemanticity  cross-modal polysemanticity entropy of the fusion head (concat backbone)
patterns         test metric under every missingness pattern (2^M - 1 of them)

Adding one: a function `(EndOfRun) -> dict` and a line in EXTRA.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from mmc.backbones.concat import ConcatFusion
from mmc.data.batch import MultimodalDataset
from mmc.diagnostics.cka import linear_cka
from mmc.diagnostics.evaluate import Predictions
from mmc.diagnostics.patterns import pattern_metrics
from mmc.diagnostics.polysemanticity import polysemanticity
from mmc.diagnostics.semantic_probe import semantic_gap
from mmc.diagnostics.vif import average_vif, modality_vif
from mmc.engine.unimodal import UnimodalReferences
from mmc.errors import choices_error
from mmc.remedies.substitution import adapted_embeddings


@dataclass
class EndOfRun:
    """What the end-of-run diagnostics read: the trained model, its test predictions, ..."""

    cfg: DictConfig
    model: nn.Module
    data: MultimodalDataset
    test_pred: Predictions
    monitor: str
    unimodal: dict  # modality -> unimodal test metrics (empty when not asked for)
    references: UnimodalReferences

    @cached_property
    def embeddings(self) -> dict[str, Tensor]:
        return adapted_embeddings(self.model, self.test_pred.split)

    def weakest(self) -> str:
        scores = {m: r.get(self.monitor, math.nan) for m, r in self.unimodal.items()}
        scores = {m: s for m, s in scores.items() if not math.isnan(s)}
        if len(scores) == len(self.data.modalities):
            return min(scores, key=scores.get)
        return self.data.info.get("weakest", self.data.modalities[-1])


def vif(r: EndOfRun) -> dict:
    split, emb = r.test_pred.split, r.embeddings
    every = torch.stack([split.mask[m] for m in emb], dim=1).all(dim=1)
    return {
        "modality": modality_vif([e[every] for e in emb.values()]),
        "feature": average_vif(r.test_pred.z),
    }


def cka(r: EndOfRun) -> dict:
    z, mask = r.test_pred.z, r.test_pred.split.mask
    return {m: linear_cka(z[mask[m]], e[mask[m]]) for m, e in r.embeddings.items()}


def semantic(r: EndOfRun) -> dict:
    weak = r.weakest()
    return semantic_gap(r.model, r.data, weak, r.references.model(weak))


def polysemanticity_entropy(r: EndOfRun) -> dict:
    if not isinstance(r.model.backbone, ConcatFusion):
        # Other backbones do not feed the head one block per modality.
        return {"cross_entropy": math.nan, "note": "needs backbone=concat"}
    heads = {m: r.references.model(m).head for m in r.data.modalities}
    return polysemanticity(r.model.head, heads, r.data.modalities, seed=r.cfg.seed)


def patterns(r: EndOfRun) -> dict:
    return pattern_metrics(r.model, r.test_pred, r.data.task, r.monitor)


# name -> diagnostic; computed in this order whatever order diagnostics.extra lists them in.
EXTRA: dict[str, Callable[[EndOfRun], dict]] = {
    "vif": vif,
    "cka": cka,
    "semantic": semantic,
    "polysemanticity": polysemanticity_entropy,
    "patterns": patterns,
}


def check_extra(names) -> None:
    for n in names:
        if n not in EXTRA:
            raise choices_error("diagnostics.extra entry", n, list(EXTRA))


def extra_diagnostics(
    cfg: DictConfig,
    model,
    data: MultimodalDataset,
    test_pred: Predictions,
    monitor: str,
    unimodal: dict,
    references: UnimodalReferences,
) -> dict:
    names = set(cfg.diagnostics.extra)
    run = EndOfRun(cfg, model, data, test_pred, monitor, unimodal, references)
    return {name: fn(run) for name, fn in EXTRA.items() if name in names}
