"""The collapse paper's diagnostics, computed at the end of any run (`diagnostics.extra`).

cka              linear CKA of the fused representation with each modality's fusion input
vif              average VIF: across modality blocks of the fusion input ("modality") and
                 across features of the fused representation ("feature")
semantic         semantic loss (linear probe) of the weakest modality's encoder in the fused
                 model ("multimodal prefix") vs the same encoder trained alone
polysemanticity  cross-modal polysemanticity entropy of the fusion head (concat backbone)
patterns         test metric under every missingness pattern (2^M - 1 of them)
ensemble         late-fusion ensemble of unimodal models (mmc/diagnostics/late_ensemble.py)
neurons          fraction of fusion-head neurons responding to >= 2 modalities, per-modality
                 share of the head's input drive (mmc/diagnostics/neuron_modality.py)
substitutions    test metric with each modality masked under every test-time substitution
                 (none, zeros, random, nearest, mean, and ebr under remedy=ebr): Table 6
semantic_paper   semantic gap against the paper's baseline: the same encoder in a multimodal
                 model also trained on its own semantic loss (§4.1)

Always (no option needed): where the remedy reports (KD student probe before/after
distillation and after fusion training; EBR per-epoch discriminator accuracy and latent
cosines, test-split alignment and latent rank), and the rank of the fused representation at
each stage (encoder outputs, EBR latent, fusion input, z) beside C - 1.
"""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig

from mmc.data.batch import MultimodalDataset
from mmc.diagnostics.evaluate import Predictions
from mmc.errors import choices_error

EXTRA = (
    "cka", "vif", "semantic", "polysemanticity", "patterns", "ensemble", "neurons",
    "semantic_paper", "substitutions",
)  # fmt: skip


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
    out.update(remedy_diagnostics(cfg, model, data, test_pred))
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
    if "ensemble" in names:
        from mmc.diagnostics.late_ensemble import late_ensemble

        out["ensemble"] = late_ensemble(
            data, {m: trained_alone(m) for m in data.modalities}, monitor
        )
    if "neurons" in names:
        from mmc.diagnostics.neuron_modality import cross_modal_polysemanticity
        from mmc.remedies.substitution import adapted_embeddings

        if isinstance(model.backbone, ConcatFusion):
            emb = adapted_embeddings(model, test_pred.split)
            out["neurons"] = cross_modal_polysemanticity(model.head, emb)
        else:
            out["neurons"] = {"fraction": math.nan, "note": "needs backbone=concat"}
    if "semantic_paper" in names:
        from mmc.diagnostics.semantic_probe import probe_loss, train_with_own_loss

        weak = _weakest(data, unimodal, monitor)
        base = train_with_own_loss(cfg, data, weak, device, cfg.train.epochs)
        prefix = probe_loss(model.encoders[weak], data, weak)
        baseline = probe_loss(base, data, weak)
        out["semantic_paper"] = {
            "modality": weak, "prefix": prefix, "unimodal": baseline, "gap": prefix - baseline,
        }  # fmt: skip
    if "substitutions" in names:
        out["substitutions"] = substitution_table(model, data, test_pred, monitor, device)
    if "patterns" in names:
        from mmc.diagnostics.patterns import pattern_metrics

        out["patterns"] = pattern_metrics(model, test_pred, data.task, monitor)
    return out


@torch.no_grad()
def remedy_diagnostics(cfg: DictConfig, model, data: MultimodalDataset, pred: Predictions) -> dict:
    """Did the remedy do what it claims? And the rank at each stage of the fusion input."""
    from mmc.diagnostics.rank import rank_stats
    from mmc.remedies.ebr import ExplicitBasisReallocation
    from mmc.remedies.kd import KnowledgeDistillation

    rtol = cfg.diagnostics.rank_rtol
    out: dict = {}
    every = torch.stack([pred.split.mask[m] for m in pred.enc], dim=1).all(dim=1)
    stages = {"encoders": torch.cat([pred.enc[m] for m in pred.enc], dim=1)}
    remedy = model.remedy
    if isinstance(remedy, ExplicitBasisReallocation):
        from mmc.diagnostics.latent_alignment import latent_alignment

        was = model.training
        model.eval()
        latents = {m: remedy.heads[m](e) for m, e in pred.enc.items()}
        model.train(was)
        stages["ebr_latent"] = torch.cat([latents[m] for m in latents], dim=1)
        out["ebr"] = {
            "test": latent_alignment(latents, pred.split.mask, seed=cfg.seed),
            "history": list(remedy.history),
            "final_disc_acc": remedy.history[-1]["disc_acc"] if remedy.history else math.nan,
            "align": remedy.align,
        }
    if isinstance(remedy, KnowledgeDistillation) and remedy.report:
        from mmc.diagnostics.semantic_probe import probe_metrics

        student = remedy.report["student"]
        probe = dict(remedy.report.get("student_probe", {}))
        probe["after_fusion"] = probe_metrics(model.encoders[student], data, student)
        out["kd"] = {**{k: v for k, v in remedy.report.items() if k != "student_probe"},
                     "student_probe": probe}  # fmt: skip
    stages["fused"] = pred.z
    ranks = {
        k: rank_stats(v[every] if int(every.sum()) >= 2 else v, rtol) for k, v in stages.items()
    }
    out["rank_stages"] = {**ranks, "C_minus_1": max(data.num_classes - 1, 1)}
    return out


def substitution_table(model, data: MultimodalDataset, pred: Predictions, monitor: str, device):
    """{substitution: {masked modality: test metric, "as_observed": metric on the test split
    with its own missingness}} on the same trained model (Table 6: substitution judged at
    test time only)."""
    from mmc.diagnostics.evaluate import labelled_metrics, masked_metrics
    from mmc.remedies.ebr import ExplicitBasisReallocation
    from mmc.remedies.substitution import make_substitution

    names = ["none", "zeros", "random", "nearest", "mean"]
    if isinstance(model.remedy, ExplicitBasisReallocation):
        names.append("ebr")
    kept, out = model.substitution, {}
    try:
        for name in names:
            sub = make_substitution(name, model)
            if sub is not None:
                sub.fit(model, data, device)
            model.substitution = sub
            out[name] = {
                m: masked_metrics(model, pred, data.task, m)[monitor] for m in data.modalities
            }
            # The test split as it is (its own simulated missingness), under this fill-in.
            was = model.training
            model.eval()
            with torch.no_grad():
                logits = model.fuse(pred.enc, pred.split.mask, None).logits.float()
            model.train(was)
            out[name]["as_observed"] = labelled_metrics(logits, pred.split, data.task)[monitor]
    finally:
        model.substitution = kept
    return out
