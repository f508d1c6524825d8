"""Optimiser and scheduler from the `optimizer` and `scheduler` config groups.

Each option is a `_partial_` node in conf/optimizer/ or conf/scheduler/: adding one is a YAML
file (and its tiny test setting in tests/options.py), nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from omegaconf import DictConfig

from mmc.config.build import build


def make_optimizer(
    params: Iterable[torch.nn.Parameter] | list[dict], cfg: DictConfig
) -> torch.optim.Optimizer:
    """`cfg.optimizer` over the trainable parameters (or over param groups with their own lr)."""
    params = list(params)
    if params and not isinstance(params[0], dict):
        params = [p for p in params if p.requires_grad]
    return build(cfg.optimizer, "optimizer", params=params)


def make_scheduler(opt: torch.optim.Optimizer, cfg: DictConfig):
    """`cfg.scheduler` on `opt`, stepped once per epoch; None for a constant lr."""
    return build(cfg.scheduler, "scheduler", optimizer=opt)


def constant_lr(optimizer: torch.optim.Optimizer) -> None:
    """scheduler=none: no scheduler, the optimiser's lr throughout."""
    return None
