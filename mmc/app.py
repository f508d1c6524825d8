"""The Hydra entry point of `mmc train`; all the work happens in `mmc.train.train(cfg)`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mmc.config.schema import register_configs
from mmc.errors import MmcError, fail
from mmc.sweep.devices import device_for_job, register_resolvers
from mmc.sweep.launcher import register_launchers
from mmc.sweep.objective import objective

register_configs()
register_resolvers()
register_launchers()


@hydra.main(version_base="1.3", config_path="pkg://mmc.conf", config_name="config")
def hydra_train(cfg: DictConfig) -> float:
    from mmc.sweep.jobs import in_multirun, run_sweep_job
    from mmc.train import train

    if in_multirun():
        # A failing job records failure.json and returns; its siblings carry on.
        summary = run_sweep_job(cfg, train)
    else:
        try:
            if cfg.devices:  # a single run takes the first listed GPU
                cfg.device = device_for_job(cfg.devices, 0)
            summary = train(cfg)
        except MmcError as e:
            fail(e)
    # Sweepers (e.g. Optuna) optimise the VALIDATION metric; NaN marks a failed job.
    return objective(summary)
