"""An encoder + head trained on one modality alone, kept at its best validation epoch.

The unimodal reference of the collapse numbers, the KD teachers and the semantic probe's
baseline are all this model.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from mmc.backbones.concat import ConcatFusion
from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.diagnostics.evaluate import labelled_metrics, predict
from mmc.engine.loop import Best, fit, train_epoch
from mmc.engine.model import build_encoder
from mmc.engine.optim import make_optimizer
from mmc.models.model import MultimodalModel, make_head


def observed_rows(split: MultimodalTensors, modality: str) -> MultimodalTensors:
    idx = split.mask[modality].nonzero(as_tuple=True)[0]
    sub = split.subset(idx)
    return MultimodalTensors(
        {modality: sub.x[modality]}, {modality: sub.mask[modality]}, sub.y, sub.labelled
    )


def unimodal_model(cfg: DictConfig, data: MultimodalDataset, modality: str) -> MultimodalModel:
    dim = cfg.model.dim
    encoders = nn.ModuleDict({modality: build_encoder(cfg, data, modality)})
    backbone = ConcatFusion([modality], dim, data.num_outputs)
    head = make_head(dim, cfg.model.head_hidden, data.num_outputs, cfg.model.dropout)
    return MultimodalModel(encoders, backbone, head)


def fit_unimodal(
    cfg: DictConfig,
    data: MultimodalDataset,
    modality: str,
    device: torch.device,
    epochs: int,
    monitor: str,
    seed_offset: int,
    patience: int | None = None,
) -> tuple[Best, MultimodalModel]:
    """Train on the rows that observe `modality`; the model is left at its best val epoch.

    Own seed stream (seed + seed_offset * (1 + modality index)), so the result does not
    depend on how far the main run got.
    """
    train, val = observed_rows(data.train, modality), observed_rows(data.val, modality)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + seed_offset * (1 + data.modalities.index(modality)))
        model = unimodal_model(cfg, data, modality).to(device)
        opt = make_optimizer(model.parameters(), cfg.train)

        def run_epoch(epoch: int) -> tuple[dict, dict, float]:
            record = train_epoch(model, train, opt, cfg, data.task, epoch, None)
            if not len(val):
                return record, {}, float("nan")
            metrics = labelled_metrics(predict(model, val).logits, val, data.task)
            return record, metrics, metrics[monitor]

        best = fit(model, range(epochs), run_epoch, later_ties=False, patience=patience)
        model.load_state_dict(best.state)
    return best, model
