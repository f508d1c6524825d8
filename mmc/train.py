"""`train(cfg)`: one experiment, whatever its task.

The saved config is reloaded for `resume=`, the config is checked, and the runner of the
data set's task (RUNNERS) runs it on the shared lifecycle (mmc/runners/lifecycle.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from omegaconf import DictConfig

from mmc.config.validate import validate_config
from mmc.retrieval.run import train_retrieval
from mmc.runners.classification import train_classification
from mmc.runners.lifecycle import resumed_config

# dataset.task -> runner(cfg, started) -> summary. Every other task (unset, mortality,
# readmission, ...) is a classification task of the fusion runner.
RUNNERS: dict[str, Callable[[DictConfig, float], dict]] = {"retrieval": train_retrieval}


def train(cfg: DictConfig) -> dict:
    """Run one experiment and return its summary (also written to summary.json)."""
    started = time.perf_counter()
    if cfg.resume:
        cfg = resumed_config(cfg)
    validate_config(cfg)
    return RUNNERS.get(cfg.dataset.get("task"), train_classification)(cfg, started)
