"""One job of a multirun: pick its GPU, skip it when already complete, never let it fail its
siblings (the failure is written to the job directory and the sweep carries on)."""

from __future__ import annotations

import json
import logging
import shutil
import traceback
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mmc.errors import ConfigError, MmcError
from mmc.logging.recorder import write_json_atomic
from mmc.sweep.devices import device_for_job
from mmc.utils.checkpoint import LAST

log = logging.getLogger("mmc")
FAILURE = "failure.json"
SUMMARY = "summary.json"
# Keys that do not change what a job computes: a re-run may differ in them and still skip.
NEUTRAL_KEYS = ("device", "devices", "progress", "logger", "run_dir", "resume", "name", "tags")


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _comparable(cfg: DictConfig | dict) -> dict:
    node = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    return {k: v for k, v in node.items() if k not in NEUTRAL_KEYS}


def _first_difference(a: dict, b: dict, prefix: str = "") -> str | None:
    for key in sorted(set(a) | set(b), key=str):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            found = _first_difference(x, y, f"{prefix}{key}.")
            if found:
                return found
        elif x != y:
            return f"{prefix}{key}"
    return None


def previous_state(run_dir: Path, cfg: DictConfig) -> str:
    """'new', 'completed' or 'partial' (a checkpoint to resume from) for this job directory.

    A directory written by a *different* configuration (the sweep's values changed, so job
    numbers now point elsewhere) is an error: its results must not be overwritten or reused.
    """
    saved = run_dir / "config.yaml"
    if not saved.exists():
        return "new"
    differs = _first_difference(_comparable(OmegaConf.load(saved)), _comparable(cfg))
    if differs is not None and (run_dir / FAILURE).exists():
        # A failed attempt holds no results worth keeping: start this job afresh.
        clear_run_files(run_dir)
        return "new"
    if differs is not None:
        raise ConfigError(
            f"{run_dir} holds a run with a different config ({differs} differs); "
            "re-run this sweep into a new hydra.sweep.dir"
        )
    summary = run_dir / SUMMARY
    if summary.exists() and json.loads(summary.read_text()).get("status") == "completed":
        return "completed"
    return "partial" if (run_dir / LAST).exists() else "new"


def clear_run_files(run_dir: Path) -> None:
    for name in ("metrics.jsonl", SUMMARY, FAILURE, "wandb_id.txt"):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)


def record_failure(run_dir: Path, error: BaseException, overrides: list[str]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        run_dir / FAILURE,
        {
            "status": "failed",
            "error": type(error).__name__,
            "message": " ".join(str(error).split()),
            "user_error": isinstance(error, MmcError),
            "overrides": overrides,
            "traceback": "".join(traceback.format_exception(error)),
        },
    )


def run_sweep_job(cfg: DictConfig, train: Callable[[DictConfig], dict]) -> dict | None:
    """Run one multirun job; returns its summary, or None when it failed (see failure.json)."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    run_dir = Path(cfg.run_dir or hc.runtime.output_dir)
    overrides = list(hc.overrides.task)
    try:
        if cfg.devices:
            cfg.device = device_for_job(cfg.devices, hc.job.num)
        state = previous_state(run_dir, cfg)
        if state == "completed":
            log.info("job %d (%s) is already complete; skipping it", hc.job.num, run_dir)
            (run_dir / FAILURE).unlink(missing_ok=True)
            return json.loads((run_dir / SUMMARY).read_text())
        (run_dir / FAILURE).unlink(missing_ok=True)
        if state == "partial":
            log.info("job %d: resuming %s from its last checkpoint", hc.job.num, run_dir)
            cfg.resume = str(run_dir)
        return train(cfg)
    except Exception as e:  # any failure, user error or bug, stays inside this job
        record_failure(run_dir, e, overrides)
        log.error("job %d failed (%s): %s; details in %s", hc.job.num, type(e).__name__,
                  " ".join(str(e).split()), run_dir / FAILURE)  # fmt: skip
        return None
