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
from torch import nn

from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.engine.unimodal import observed_rows


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
