"""One job of a multirun: pick its GPU, skip it when already complete, never let it fail its
siblings (the failure is written to the job directory and the sweep carries on)."""

from __future__ import annotations

import json
import logging
import shutil
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mmc.errors import ConfigError, MmcError
from mmc.logging.recorder import write_json_atomic
from mmc.sweep.devices import device_for_job
from mmc.utils.checkpoint import LAST

log = logging.getLogger("mmc")
FAILURE = "failure.json"
SUMMARY = "summary.json"
REFUSED_SUFFIX = ".refused.json"
# Keys that do not change what a job computes: a re-run may differ in them and still skip.
NEUTRAL_KEYS = ("device", "devices", "progress", "logger", "run_dir", "resume", "name", "tags")


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _comparable(cfg: DictConfig) -> dict:
    node = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in node.items() if k not in NEUTRAL_KEYS}


def _differences(a: dict, b: dict, prefix: str = "") -> Iterator[str]:
    for key in sorted(set(a) | set(b), key=str):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            yield from _differences(x, y, f"{prefix}{key}.")
        elif x != y:
            yield f"{prefix}{key}"


def config_difference(previous: DictConfig, cfg: DictConfig) -> str | None:
    """The dotted key in which two runs' configs differ in what they compute, or None.

    Compared resolved, but named as the user wrote it where it can be: train.lr, not the
    optimizer.lr that interpolates it.
    """
    keys = list(_differences(_comparable(previous), _comparable(cfg)))
    typed = [k for k in keys if not _interpolated(cfg, k)]
    return (typed or keys or [None])[0]


def _interpolated(cfg: DictConfig, key: str) -> bool:
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return isinstance(node, DictConfig) and leaf in node and OmegaConf.is_interpolation(node, leaf)


def completed(run_dir: Path) -> bool:
    summary = run_dir / SUMMARY
    if not summary.exists():
        return False
    try:
        return json.loads(summary.read_text()).get("status") == "completed"
    except (OSError, ValueError):
        return False


def job_conflict(run_dir: Path, cfg: DictConfig) -> str | None:
    """The first config key in which `run_dir`'s saved run differs from `cfg` (None: same or
    nothing saved). Pure: the CLI asks it for every job before a sweep launches."""
    saved = run_dir / "config.yaml"
    if not saved.exists():
        return None
    try:
        previous = OmegaConf.load(saved)
    except Exception:
        return "config.yaml (unreadable)"
    return config_difference(previous, cfg)


def conflict_error(run_dir: Path, differs: str) -> ConfigError:
    return ConfigError(
        f"{run_dir} holds a run with a different config ({differs} differs); "
        "re-run this sweep into a new hydra.sweep.dir"
    )


def previous_state(run_dir: Path, cfg: DictConfig) -> str:
    """'new', 'completed' or 'partial' (a checkpoint to resume from) for this job directory.

    A directory written by a *different* configuration (the sweep's values changed, so job
    numbers now point elsewhere) is an error: its results are never overwritten or reused.
    Only a failed attempt (failure.json, no completed summary) is cleared and started afresh.
    """
    differs = job_conflict(run_dir, cfg)
    if differs is not None:
        if (run_dir / FAILURE).exists() and not completed(run_dir):
            clear_run_files(run_dir)
            return "new"
        raise conflict_error(run_dir, differs)
    if not (run_dir / "config.yaml").exists():
        return "new"
    if completed(run_dir):
        return "completed"
    return "partial" if (run_dir / LAST).exists() else "new"


def clear_run_files(run_dir: Path) -> None:
    for name in ("metrics.jsonl", SUMMARY, FAILURE, "wandb_id.txt"):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)


def failure_path(run_dir: Path) -> Path:
    """Where a job's failure is recorded: never inside a completed job's directory (its
    result stays intact and is not listed as failed); beside it as `<num>.refused.json`."""
    if completed(run_dir):
        return run_dir.parent / f"{run_dir.name}{REFUSED_SUFFIX}"
    return run_dir / FAILURE


def record_failure(run_dir: Path, error: BaseException, overrides: list[str]) -> Path:
    path = failure_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        path,
        {
            "status": "failed",
            "error": type(error).__name__,
            "message": " ".join(str(error).split()),
            "user_error": isinstance(error, MmcError),
            "overrides": overrides,
            "traceback": "".join(traceback.format_exception(error)),
            "run_dir": str(run_dir),
        },
    )
    return path


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
            (run_dir.parent / f"{run_dir.name}{REFUSED_SUFFIX}").unlink(missing_ok=True)
            return json.loads((run_dir / SUMMARY).read_text())
        (run_dir / FAILURE).unlink(missing_ok=True)
        if state == "partial":
            log.info("job %d: resuming %s from its last checkpoint", hc.job.num, run_dir)
            cfg.resume = str(run_dir)
        return train(cfg)
    except Exception as e:  # any failure, user error or bug, stays inside this job
        path = record_failure(run_dir, e, overrides)
        log.error("job %d failed (%s): %s; details in %s", hc.job.num, type(e).__name__,
                  " ".join(str(e).split()), path)  # fmt: skip
        return None
