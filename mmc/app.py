"""The Hydra entry point of `mmc train`; all the work happens in `mmc.train.train(cfg)`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mmc.config.schema import register_configs
from mmc.errors import MmcError, fail
from mmc.sweep.devices import device_for_job, register_resolvers

register_configs()
register_resolvers()


@hydra.main(version_base="1.3", config_path="pkg://mmc.conf", config_name="config")
def hydra_train(cfg: DictConfig) -> float | None:
    from mmc.sweep.jobs import in_multirun, run_sweep_job
    from mmc.train import train

    if in_multirun():
        # A failing job records failure.json and returns; its siblings carry on.
        summary = run_sweep_job(cfg, train)
        if summary is None:
            return None
    else:
        from hydra.core.hydra_config import HydraConfig

        from mmc.utils import rundir

        run_dir = HydraConfig.get().runtime.output_dir
        try:
            if cfg.devices:  # a single run takes the first listed GPU
                cfg.device = device_for_job(cfg.devices, 0)
            summary = train(cfg)
        except MmcError as e:
            rundir.discard_if_unused(run_dir)  # a run that failed starting leaves nothing
            fail(e)
        except OSError as e:  # a full or read-only disk outside the checkpoint writer
            rundir.discard_if_unused(run_dir)
            fail(f"cannot write {e.filename or run_dir} ({e.strerror or e}); free disk space "
                 "or choose a writable hydra.run.dir")  # fmt: skip
    # A scalar return lets Hydra sweepers (e.g. Optuna) optimise the run.
    return (summary.get("test") or {}).get(summary.get("monitor"))
