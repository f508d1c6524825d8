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
                 share of the head's input drive (mmc/diagnostics/neuron_modality.py); where
                 the data knows its latent factors, also the paper's measure under paper/:
                 neurons reading one modality's predictive and another's noisy factors
                 (mmc/diagnostics/entanglement.py)
semantic_paper   semantic gap against the paper's baseline: the same encoder in a multimodal
                 model also trained on its own semantic loss (§4.1)
substitutions    test metric with each modality masked under every test-time substitution
                 (none, zeros, random, nearest, mean, and ebr under remedy=ebr): Table 6

Always (no option needed): where the remedy reports (KD student probe before/after
distillation and after fusion training; EBR per-epoch discriminator accuracy and latent
cosines, test-split alignment and latent rank), and the rank of the fused representation at
each stage (encoder outputs, EBR latent, fusion input, z) beside C - 1.

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
from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.diagnostics.cka import linear_cka
from mmc.diagnostics.entanglement import (
    predictive_noisy_entanglement,
    total_effect_entanglement,
)
from mmc.diagnostics.evaluate import Predictions, labelled_metrics, masked_metrics
from mmc.diagnostics.late_ensemble import late_ensemble
from mmc.diagnostics.latent_alignment import latent_alignment
from mmc.diagnostics.neuron_modality import cross_modal_polysemanticity, first_linear
from mmc.diagnostics.patterns import pattern_metrics
from mmc.diagnostics.polysemanticity import polysemanticity
from mmc.diagnostics.rank import rank_stats
from mmc.diagnostics.semantic_probe import (
    probe_loss,
    probe_metrics,
    semantic_gap,
    train_with_own_loss,
)
from mmc.diagnostics.vif import average_vif, modality_vif
from mmc.engine.unimodal import UnimodalReferences
from mmc.errors import choices_error
from mmc.remedies.ebr import ExplicitBasisReallocation
from mmc.remedies.kd import KnowledgeDistillation
from mmc.remedies.substitution import adapted_embeddings, make_substitution


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


def ensemble(r: EndOfRun) -> dict:
    return late_ensemble(r.data, {m: r.references.model(m) for m in r.data.modalities}, r.monitor)


def neurons(r: EndOfRun) -> dict:
    if not isinstance(r.model.backbone, ConcatFusion):
        return {"fraction": math.nan, "note": "needs backbone=concat"}
    out = cross_modal_polysemanticity(r.model.head, r.embeddings)
    if r.data.factors:  # the generator knows its predictive / noisy factors
        out.update(_paper_entanglement(r))
    return out


def _paper_entanglement(r: EndOfRun) -> dict:
    """The paper's predictive-noisy entanglement, two ways: linear shares of each block's
    drive (paper/...), and total effects of redrawing one modality's factors of one kind on
    the neuron's pre-activation through the encoders (paper_total/...)."""
    split = r.test_pred.split
    every = torch.stack([split.mask[m] for m in r.embeddings], dim=1).all(dim=1).cpu()
    rows = split.subset(torch.nonzero(every).flatten().to(split.y.device))
    x = {m: rows.x[m].cpu().flatten(1).float() for m in r.embeddings}
    factors = {m: {k: x[m] @ d for k, d in r.data.factors[m].items()} for m in x}
    layer = first_linear(r.model.head)
    weight = layer.weight.detach().cpu()
    blocks = {m: e.cpu()[every] for m, e in r.embeddings.items()}
    out = {
        f"paper/{k}": v for k, v in predictive_noisy_entanglement(weight, blocks, factors).items()
    }

    def preact(split_) -> Tensor:
        emb = adapted_embeddings(r.model, split_)
        return torch.cat([emb[m].cpu() for m in r.embeddings], dim=1) @ weight.T

    gen = torch.Generator().manual_seed(int(r.cfg.seed))
    perm = torch.randperm(len(rows), generator=gen)
    resampled: dict[str, dict[str, Tensor]] = {}
    for m in x:
        resampled[m] = {}
        for kind, d in r.data.factors[m].items():
            f = factors[m][kind]
            # x' = x with this kind's factors swapped for another sample's (d is orthonormal)
            x_new = (x[m] + (f[perm] - f) @ d.T).reshape(rows.x[m].shape)
            xs = {**rows.x, m: x_new.to(rows.x[m].device, rows.x[m].dtype)}
            resampled[m][kind] = preact(MultimodalTensors(xs, rows.mask, rows.y, rows.labelled))
    total = total_effect_entanglement(preact(rows), resampled)
    out.update({f"paper_total/{k}": v for k, v in total.items()})
    return out


def semantic_paper(r: EndOfRun) -> dict:
    weak = r.weakest()
    base = train_with_own_loss(r.cfg, r.data, weak, r.references.device, r.cfg.train.epochs)
    prefix = probe_loss(r.model.encoders[weak], r.data, weak)
    baseline = probe_loss(base, r.data, weak)
    return {"modality": weak, "prefix": prefix, "unimodal": baseline, "gap": prefix - baseline}


def substitutions(r: EndOfRun) -> dict:
    """{substitution: {masked modality: test metric, "as_observed": metric on the test split
    with its own missingness}} on the same trained model (Table 6: substitution judged at
    test time only)."""
    model, data, pred = r.model, r.data, r.test_pred
    names = ["none", "zeros", "random", "nearest", "mean", "class_mean", "late"]
    if isinstance(model.remedy, ExplicitBasisReallocation):
        names.append("ebr")
    kept, out = model.substitution, {}
    try:
        for name in names:
            sub = make_substitution(name, model)
            if sub is not None:
                sub.fit(model, data, r.references.device)
            model.substitution = sub
            out[name] = {
                m: masked_metrics(model, pred, data.task, m)[r.monitor] for m in data.modalities
            }
            # The test split as it is (its own simulated missingness), under this fill-in.
            was = model.training
            model.eval()
            with torch.no_grad():
                logits = model.fuse(pred.enc, pred.split.mask, None).logits.float()
            model.train(was)
            out[name]["as_observed"] = labelled_metrics(logits, pred.split, data.task)[r.monitor]
    finally:
        model.substitution = kept
    return out


@torch.no_grad()
def remedy_diagnostics(r: EndOfRun) -> dict:
    """Did the remedy do what it claims? And the rank at each stage of the fusion input."""
    model, data, pred = r.model, r.data, r.test_pred
    out: dict = {}
    every = torch.stack([pred.split.mask[m] for m in pred.enc], dim=1).all(dim=1)
    stages = {"encoders": torch.cat([pred.enc[m] for m in pred.enc], dim=1)}
    remedy = model.remedy
    if isinstance(remedy, ExplicitBasisReallocation):
        was = model.training
        model.eval()
        latents = {m: remedy.heads[m](e) for m, e in pred.enc.items()}
        model.train(was)
        stages["ebr_latent"] = torch.cat([latents[m] for m in latents], dim=1)
        out["ebr"] = {
            "test": latent_alignment(latents, pred.split.mask, seed=r.cfg.seed),
            "history": list(remedy.history),
            "final_disc_acc": remedy.history[-1]["disc_acc"] if remedy.history else math.nan,
            "align": remedy.align,
        }
    if isinstance(remedy, KnowledgeDistillation) and remedy.report:
        student = remedy.report["student"]
        probe = dict(remedy.report.get("student_probe", {}))
        probe["after_fusion"] = probe_metrics(model.encoders[student], data, student)
        report = {k: v for k, v in remedy.report.items() if k != "student_probe"}
        out["kd"] = {**report, "student_probe": probe}
    stages["fused"] = pred.z
    rtol = r.cfg.diagnostics.rank_rtol
    ranks = {
        k: rank_stats(v[every] if int(every.sum()) >= 2 else v, rtol) for k, v in stages.items()
    }
    out["rank_stages"] = {**ranks, "C_minus_1": max(data.num_classes - 1, 1)}
    return out


# name -> diagnostic; computed in this order whatever order diagnostics.extra lists them in.
EXTRA: dict[str, Callable[[EndOfRun], dict]] = {
    "vif": vif,
    "cka": cka,
    "semantic": semantic,
    "polysemanticity": polysemanticity_entropy,
    "patterns": patterns,
    "ensemble": ensemble,
    "neurons": neurons,
    "semantic_paper": semantic_paper,
    "substitutions": substitutions,
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
    out = remedy_diagnostics(run)
    out.update({name: fn(run) for name, fn in EXTRA.items() if name in names})
    return out
