"""Hydra callback (conf/config.yaml, hydra.callbacks): after a multirun, say how many jobs
failed and make the command's exit status 1 when any did. The jobs themselves never raise
(mmc.sweep.jobs), so siblings always run to the end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from mmc.sweep.expand import sweep_jobs
from mmc.sweep.jobs import FAILURE, REFUSED_SUFFIX, completed

log = logging.getLogger("mmc")
EXIT_JOBS_FAILED = 1


def _job_overrides(job: Path) -> tuple[str, ...] | None:
    try:
        return tuple(sorted(yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())))
    except Exception:
        return None


def sweep_outcome(sweep_dir: Path, current: list[list[str]] | None = None) -> dict[str, list[Path]]:
    """Job directories of a sweep dir, split into completed / failed / unfinished / stale.

    `current`: the override lists of this sweep's jobs; a job directory whose overrides are
    not among them is left over from an older sweep into the same dir ("stale") and is
    reported apart rather than counted as this sweep's result.
    """
    out: dict[str, list[Path]] = {"completed": [], "failed": [], "unfinished": [], "stale": []}
    wanted = {tuple(sorted(job)) for job in current} if current else None
    for cfg_file in sorted(sweep_dir.rglob("config.yaml")):
        job = cfg_file.parent
        if job.name == ".hydra" or not (job / ".hydra").is_dir():
            continue
        if wanted is not None and _job_overrides(job) not in wanted:
            out["stale"].append(job)
        elif (job / FAILURE).exists():
            out["failed"].append(job)
        elif completed(job):
            out["completed"].append(job)
        else:
            out["unfinished"].append(job)
    # Jobs that failed before writing config.yaml (e.g. a bad device) have only failure.json;
    # a job refused beside a completed directory has <num>.refused.json.
    for failure in [*sweep_dir.rglob(FAILURE), *sweep_dir.rglob(f"*{REFUSED_SUFFIX}")]:
        where = failure.parent if failure.name == FAILURE else failure
        if failure.parent not in out["failed"] and where not in out["stale"]:
            out["failed"].append(where)
    return out


def _failure_message(where: Path) -> str:
    path = where / FAILURE if where.is_dir() else where
    try:
        return json.loads(path.read_text()).get("message", "")
    except (OSError, ValueError):
        return f"(unreadable {path})"


class SweepOutcome(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            # The experiment file's hydra.sweeper.params are part of the sweep: without them
            # every job of `-m experiment=<name>` looked left over from an older sweep.
            params = config.hydra.sweeper.get("params")
            params = OmegaConf.to_container(params) if params else None
            current = sweep_jobs(list(config.hydra.overrides.task), params, max_combinations=None)
        except Exception:
            current = None
        outcome = sweep_outcome(sweep_dir, current)
        failed, stale = outcome["failed"], outcome["stale"]
        print(
            f"mmc: sweep {sweep_dir}: {len(outcome['completed'])} job(s) completed, "
            f"{len(failed)} failed; tables and plots: mmc report {sweep_dir}",
            flush=True,
        )
        if stale:
            print(
                f"mmc: {len(stale)} job dir(s) from an older sweep into the same dir, not part "
                f"of this one: {', '.join(str(j) for j in stale)}",
                flush=True,
            )
        if failed:
            for job in failed:
                print(f"mmc: failed job {job}: {_failure_message(job)}", flush=True)
            raise SystemExit(EXIT_JOBS_FAILED)
