"""Encoders and the multimodal model, built from the composed config."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from mmc.config.build import build
from mmc.data.batch import MultimodalDataset
from mmc.models.model import MultimodalModel, make_head


def build_encoder(cfg: DictConfig, data: MultimodalDataset, modality: str) -> nn.Module:
    per_modality = cfg.dataset.get("encoders") or {}
    node, option = (
        (per_modality[modality], f"dataset.encoders.{modality}")
        if modality in per_modality
        else (cfg.dataset.encoder, "dataset.encoder")
    )
    return build(node, option, spec=data.specs[modality], out_dim=cfg.model.dim)


def build_model(cfg: DictConfig, data: MultimodalDataset) -> MultimodalModel:
    encoders = nn.ModuleDict({m: build_encoder(cfg, data, m) for m in data.modalities})
    backbone = build(
        cfg.backbone,
        "backbone",
        modalities=data.modalities,
        dim=cfg.model.dim,
        num_outputs=data.num_outputs,
    )
    head = make_head(backbone.out_dim, cfg.model.head_hidden, data.num_outputs, cfg.model.dropout)
    remedy = build(cfg.remedy, "remedy")
    return MultimodalModel(encoders, backbone, head, remedy)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
