"""Unimodal strength: one encoder + head trained on a single modality alone.

This is the reference the collapse numbers are measured against: a modality is "collapsed"
when the fused model, deprived of the others, does much worse than this.
"""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig

from mmc.data.batch import MultimodalDataset
from mmc.diagnostics.evaluate import labelled_metrics, predict
from mmc.engine.unimodal import fit_unimodal, observed_rows


def train_unimodal(
    cfg: DictConfig, data: MultimodalDataset, modality: str, monitor: str, device: torch.device
) -> dict[str, float]:
    """Test metrics of the best-validation epoch of a model that sees only `modality`."""
    splits = {s: observed_rows(t, modality) for s, t in data.splits().items()}
    if min(len(t) for t in splits.values()) == 0:
        return {k: math.nan for k in ("accuracy", monitor)}
    epochs = cfg.diagnostics.unimodal_epochs or cfg.train.epochs
    _, model = fit_unimodal(cfg, data, modality, device, epochs, monitor, seed_offset=1_000_003)
    return labelled_metrics(predict(model, splits["test"]).logits, splits["test"], data.task)
