"""`train(cfg)`: one experiment, whatever its task.

The saved config is reloaded for `resume=`, the config is checked (values, then what the
runner of the data set's task can use), and that runner (RUNNERS) runs it on the shared
lifecycle (mmc/runners/lifecycle.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from omegaconf import DictConfig

from mmc.batched_seeds import train_seeds
from mmc.config.validate import validate_config
from mmc.retrieval.run import train_retrieval
from mmc.runners.classification import train_classification
from mmc.runners.lifecycle import choices, resumed_config
from mmc.runners.select import check_runner
from mmc.utils.memory import keep_freed_memory

# runner name (mmc/runners/select.py picks it from dataset.task) -> runner(cfg, started).
RUNNERS: dict[str, Callable[[DictConfig, float], dict]] = {
    "classification": train_classification,
    "retrieval": train_retrieval,
}


def train(cfg: DictConfig) -> dict:
    """Run one experiment and return its summary (also written to summary.json)."""
    started = time.perf_counter()
    keep_freed_memory()  # per-epoch buffers reused, not re-faulted (mmc/utils/memory.py)
    if cfg.get("seeds"):  # several seeds, one batched model (each seed its own run dir)
        return train_seeds(cfg, train)
    if cfg.resume:
        cfg = resumed_config(cfg)
    validate_config(cfg)
    runner = check_runner(cfg, choices(cfg))
    return RUNNERS[runner.name](cfg, started)
