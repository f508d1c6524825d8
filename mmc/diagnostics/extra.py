"""The collapse paper's diagnostics, computed at the end of any run (`diagnostics.extra`).

cka              linear CKA of the fused representation with each modality's fusion input
vif              average VIF: across modality blocks of the fusion input ("modality") and
                 across features of the fused representation ("feature")
semantic         semantic loss (linear probe) of the weakest modality's encoder in the fused
                 model ("multimodal prefix") vs the same encoder trained alone
polysemanticity  cross-modal polysemanticity entropy of the fusion head (concat backbone)
patterns         test metric under every missingness pattern (2^M - 1 of them)
"""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig

from mmc.data.batch import MultimodalDataset
from mmc.diagnostics.evaluate import Predictions
from mmc.errors import choices_error

EXTRA = ("cka", "vif", "semantic", "polysemanticity", "patterns")


def check_extra(names) -> None:
    for n in names:
        if n not in EXTRA:
            raise choices_error("diagnostics.extra entry", n, EXTRA)


def _weakest(data: MultimodalDataset, unimodal: dict, monitor: str) -> str:
    scores = {m: r.get(monitor, math.nan) for m, r in unimodal.items()}
    scores = {m: s for m, s in scores.items() if not math.isnan(s)}
    if len(scores) == len(data.modalities):
        return min(scores, key=scores.get)
    return data.info.get("weakest", data.modalities[-1])


def extra_diagnostics(
    cfg: DictConfig,
    model,
    data: MultimodalDataset,
    test_pred: Predictions,
    monitor: str,
    unimodal: dict,
    device: torch.device,
) -> dict:
    names = list(cfg.diagnostics.extra)
    out: dict = {}
    if not names:
        return out
    from mmc.backbones.concat import ConcatFusion
    from mmc.remedies.substitution import adapted_embeddings

    if "cka" in names or "vif" in names:
        z, split = test_pred.z, test_pred.split
        emb = adapted_embeddings(model, split)
        if "vif" in names:
            from mmc.diagnostics.vif import average_vif, modality_vif

            every = torch.stack([split.mask[m] for m in emb], dim=1).all(dim=1)
            out["vif"] = {
                "modality": modality_vif([e[every] for e in emb.values()]),
                "feature": average_vif(z),
            }
        if "cka" in names:
            from mmc.diagnostics.cka import linear_cka

            out["cka"] = {m: linear_cka(z[split.mask[m]], e[split.mask[m]]) for m, e in emb.items()}
    epochs = cfg.diagnostics.unimodal_epochs or cfg.train.epochs
    alone: dict = {}

    def trained_alone(m: str):
        if m not in alone:
            from mmc.diagnostics.semantic_probe import train_alone

            alone[m] = train_alone(cfg, data, m, device, epochs, monitor)[1]
        return alone[m]

    if "semantic" in names:
        from mmc.diagnostics.semantic_probe import semantic_gap

        weak = _weakest(data, unimodal, monitor)
        out["semantic"] = semantic_gap(model, data, weak, trained_alone(weak))
    if "polysemanticity" in names:
        if isinstance(model.backbone, ConcatFusion):
            from mmc.diagnostics.polysemanticity import polysemanticity

            heads = {m: trained_alone(m).head for m in data.modalities}
            out["polysemanticity"] = polysemanticity(
                model.head, heads, data.modalities, seed=cfg.seed
            )
        else:
            # Other backbones do not feed the head one block per modality.
            out["polysemanticity"] = {"cross_entropy": math.nan, "note": "needs backbone=concat"}
    if "patterns" in names:
        from mmc.diagnostics.patterns import pattern_metrics

        out["patterns"] = pattern_metrics(model, test_pred, data.task, monitor)
    return out
