"""What a running experiment shares with remedies and helpers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from mmc.engine.unimodal import UnimodalReferences


@dataclass
class RunContext:
    cfg: DictConfig
    device: torch.device
    run_dir: Path
    # Log a dict of scalars (e.g. a remedy's pretraining curve) to every logger.
    log: Callable[[dict], None]
    logger: logging.Logger
    # Each modality's model trained alone, once per run (KD teachers, unimodal strengths).
    references: UnimodalReferences | None = None
