"""Unimodal strength: one encoder + head trained on a single modality alone.

This is the reference the collapse numbers are measured against: a modality is "collapsed"
when the fused model, deprived of the others, does much worse than this.
"""

from __future__ import annotations

import copy
import math

import torch
from omegaconf import DictConfig
from torch import nn

from mmc.backbones.concat import ConcatFusion
from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.diagnostics.evaluate import labelled_metrics, predict
from mmc.models.model import MultimodalModel, make_head


def observed_rows(split: MultimodalTensors, modality: str) -> MultimodalTensors:
    idx = split.mask[modality].nonzero(as_tuple=True)[0]
    sub = split.subset(idx)
    return MultimodalTensors(
        {modality: sub.x[modality]}, {modality: sub.mask[modality]}, sub.y, sub.labelled
    )


def unimodal_model(cfg: DictConfig, data: MultimodalDataset, modality: str) -> MultimodalModel:
    from mmc.train import build_encoder

    dim = cfg.model.dim
    encoders = nn.ModuleDict({modality: build_encoder(cfg, data, modality)})
    backbone = ConcatFusion([modality], dim, data.num_outputs)
    head = make_head(dim, cfg.model.head_hidden, data.num_outputs, cfg.model.dropout)
    return MultimodalModel(encoders, backbone, head)


def train_unimodal(
    cfg: DictConfig, data: MultimodalDataset, modality: str, monitor: str, device: torch.device
) -> dict[str, float]:
    """Test metrics of the best-validation epoch of a model that sees only `modality`."""
    from mmc.train import make_optimizer, train_epoch

    splits = {s: observed_rows(t, modality) for s, t in data.splits().items()}
    if min(len(t) for t in splits.values()) == 0:
        return {k: math.nan for k in ("accuracy", monitor)}
    # Own seed stream, so the baselines do not depend on how far the main run got.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 1_000_003 * (1 + data.modalities.index(modality)))
        model = unimodal_model(cfg, data, modality).to(device)
        opt = make_optimizer(model.parameters(), cfg.train)
        epochs = cfg.diagnostics.unimodal_epochs or cfg.train.epochs
        best_score, best_state = -math.inf, copy.deepcopy(model.state_dict())
        for epoch in range(epochs):
            train_epoch(model, splits["train"], opt, cfg, data.task, epoch, None)
            val = labelled_metrics(predict(model, splits["val"]).logits, splits["val"], data.task)
            score = val[monitor] if not math.isnan(val[monitor]) else -math.inf
            if score > best_score:
                best_score, best_state = score, copy.deepcopy(model.state_dict())
        model.load_state_dict(best_state)
        return labelled_metrics(predict(model, splits["test"]).logits, splits["test"], data.task)
