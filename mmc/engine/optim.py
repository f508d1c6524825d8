"""Optimiser and scheduler from `train.*`: one table each, read by the config check too."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from omegaconf import DictConfig

# name -> (trainable parameters, train config) -> optimiser
OPTIMIZERS: dict[str, Callable[[list, DictConfig], torch.optim.Optimizer]] = {
    "adam": lambda p, t: torch.optim.Adam(p, lr=t.lr, weight_decay=t.weight_decay),
    "adamw": lambda p, t: torch.optim.AdamW(p, lr=t.lr, weight_decay=t.weight_decay),
    "sgd": lambda p, t: torch.optim.SGD(
        p, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay
    ),
}
# name -> (optimiser, train config) -> scheduler stepped once per epoch, or None
SCHEDULERS: dict[str, Callable[[torch.optim.Optimizer, DictConfig], object]] = {
    "none": lambda opt, t: None,
    "cosine": lambda opt, t: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t.epochs),
    "step": lambda opt, t: torch.optim.lr_scheduler.StepLR(
        opt, step_size=t.step_size, gamma=t.gamma
    ),
}


def make_optimizer(params: Iterable[torch.nn.Parameter], t: DictConfig) -> torch.optim.Optimizer:
    return OPTIMIZERS[t.optimizer]([p for p in params if p.requires_grad], t)


def make_scheduler(opt: torch.optim.Optimizer, t: DictConfig):
    return SCHEDULERS[t.scheduler](opt, t)
