"""Semantic loss by linear evaluation (collapse paper Fig. 4): multimodal prefix vs unimodal.

The *multimodal prefix* is a modality's encoder inside the fused model (trained only through
the fusion head); the *unimodal baseline* is the same encoder architecture trained on that
modality's own task loss alone (the run's unimodal reference, mmc/engine/unimodal.py). Each is frozen, a logistic-regression probe is fitted on its
training-split representation, and the semantic loss is the probe's cross-entropy on the
test split. gap = prefix - unimodal: how much harder the modality's label information is to
decode after fusion training.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from mmc.config.build import build
from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.diagnostics.metrics import task_loss
from mmc.engine.loop import train_epoch
from mmc.engine.model import build_encoder
from mmc.engine.optim import make_optimizer
from mmc.engine.unimodal import observed_rows
from mmc.models.model import MultimodalModel, make_head
from mmc.remedies.base import Remedy


@torch.no_grad()
def _features(
    encoder: nn.Module, split: MultimodalTensors, modality: str
) -> tuple[np.ndarray, np.ndarray]:
    rows = observed_rows(split, modality)
    keep = rows.labelled
    was = encoder.training
    encoder.eval()
    feats = (
        torch.cat([encoder(b.x[modality]).float() for b in rows.iter_batches(4096)])
        if len(rows)
        else torch.zeros(0)
    )
    encoder.train(was)
    return feats[keep].cpu().numpy(), rows.y[keep].cpu().numpy()


def probe_loss(encoder: nn.Module, data: MultimodalDataset, modality: str) -> float:
    """Test cross-entropy of a linear probe fitted on the frozen encoder's train features."""
    # heavy: only when the semantic diagnostic is asked for
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.preprocessing import StandardScaler

    x_tr, y_tr = _features(encoder, data.train, modality)
    x_te, y_te = _features(encoder, data.test, modality)
    if len(np.unique(y_tr)) < 2 or len(y_te) == 0:
        return math.nan
    scaler = StandardScaler().fit(x_tr)
    probe = LogisticRegression(max_iter=500).fit(scaler.transform(x_tr), y_tr)
    proba = probe.predict_proba(scaler.transform(x_te))
    return float(log_loss(y_te, proba, labels=probe.classes_))


def semantic_gap(
    model, data: MultimodalDataset, modality: str, unimodal: nn.Module
) -> dict[str, float]:
    prefix = probe_loss(model.encoders[modality], data, modality)
    alone = probe_loss(unimodal.encoders[modality], data, modality)
    return {"modality": modality, "prefix": prefix, "unimodal": alone, "gap": prefix - alone}


def probe_metrics(encoder: nn.Module, data: MultimodalDataset, modality: str) -> dict[str, float]:
    """Linear-probe test cross-entropy and accuracy of a frozen encoder (KD student check)."""
    # heavy: only when a probe is asked for
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.preprocessing import StandardScaler

    x_tr, y_tr = _features(encoder, data.train, modality)
    x_te, y_te = _features(encoder, data.test, modality)
    if len(np.unique(y_tr)) < 2 or len(y_te) == 0:
        return {"ce": math.nan, "accuracy": math.nan}
    scaler = StandardScaler().fit(x_tr)
    probe = LogisticRegression(max_iter=500).fit(scaler.transform(x_tr), y_tr)
    x_te = scaler.transform(x_te)
    # A test class never seen in the probe's training rows (small or heavily masked sets) gets
    # probability 0: its rows cost the clipped maximum instead of making log_loss raise.
    classes = np.union1d(probe.classes_, np.unique(y_te))
    proba = np.zeros((len(x_te), len(classes)))
    proba[:, np.searchsorted(classes, probe.classes_)] = probe.predict_proba(x_te)
    return {
        "ce": float(log_loss(y_te, proba, labels=classes)),
        "accuracy": float((probe.predict(x_te) == y_te).mean()),
    }


class OwnSemanticLoss(Remedy):
    """The semantic loss of one modality's encoder through its own linear classifier, added
    to the fused task loss as a remedy's loss term so the one `train_epoch` trains it."""

    def __init__(self, modality: str, dim: int, num_outputs: int, task: str) -> None:
        super().__init__()
        self.modality, self.task = modality, task
        self.own = nn.Linear(dim, num_outputs)

    def losses(self, out, batch, epoch: int) -> dict[str, torch.Tensor]:
        seen = batch.mask[self.modality] & batch.labelled
        if not bool(seen.any()):
            return {}
        logits = self.own(out.emb[self.modality][seen]).squeeze(-1)
        return {
            "own_semantic": task_loss(logits, batch.y[seen], batch.labelled[seen], self.task, True)
        }


def train_with_own_loss(
    cfg: DictConfig, data: MultimodalDataset, modality: str, device: torch.device, epochs: int
) -> nn.Module:
    """The paper's unimodal baseline (§4.1, Fig. 4): the same multimodal model trained with
    the fused task loss *plus* a semantic loss of `modality`'s encoder through its own
    linear classifier. Returns that encoder (to be probed like the multimodal prefix)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 9_000_011)
        encoders = nn.ModuleDict({m: build_encoder(cfg, data, m) for m in data.modalities})
        backbone = build(
            cfg.backbone, "backbone", modalities=data.modalities, dim=cfg.model.dim,
            num_outputs=data.num_outputs,
        )  # fmt: skip
        head = make_head(backbone.out_dim, cfg.model.head_hidden, data.num_outputs, 0.0)
        own = OwnSemanticLoss(modality, cfg.model.dim, data.num_outputs, data.task)
        model = MultimodalModel(encoders, backbone, head, own).to(device)
        opt = make_optimizer(model.parameters(), cfg)
        for epoch in range(epochs):
            train_epoch(model, data.train, opt, cfg, data.task, epoch, None)
    return model.encoders[modality]
