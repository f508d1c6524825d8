"""The Hydra entry point of `mmc train`; all the work happens in `mmc.train.train(cfg)`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mmc.config.schema import register_configs
from mmc.errors import MmcError, fail

register_configs()


@hydra.main(version_base="1.3", config_path="pkg://mmc.conf", config_name="config")
def hydra_train(cfg: DictConfig) -> float | None:
    from mmc.train import train

    try:
        summary = train(cfg)
    except MmcError as e:
        fail(e)
    # A scalar return lets Hydra sweepers (e.g. Optuna) optimise the run.
    return (summary.get("test") or {}).get(summary.get("monitor"))
