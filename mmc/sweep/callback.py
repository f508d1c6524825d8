"""Hydra callback (conf/config.yaml, hydra.callbacks): after a multirun, say how many jobs
failed and make the command's exit status 1 when any did. The jobs themselves never raise
(mmc.sweep.jobs), so siblings always run to the end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mmc.sweep.jobs import FAILURE, SUMMARY

log = logging.getLogger("mmc")
EXIT_JOBS_FAILED = 1


def sweep_outcome(sweep_dir: Path) -> dict[str, list[Path]]:
    """Job directories of a sweep dir, split into completed / failed / unfinished."""
    out: dict[str, list[Path]] = {"completed": [], "failed": [], "unfinished": []}
    for cfg_file in sorted(sweep_dir.rglob("config.yaml")):
        job = cfg_file.parent
        if job.name == ".hydra" or not (job / ".hydra").is_dir():
            continue
        summary = job / SUMMARY
        if (job / FAILURE).exists():
            out["failed"].append(job)
        elif summary.exists() and json.loads(summary.read_text()).get("status") == "completed":
            out["completed"].append(job)
        else:
            out["unfinished"].append(job)
    # Jobs that failed before writing config.yaml (e.g. a bad device) have only failure.json.
    for failure in sweep_dir.rglob(FAILURE):
        if failure.parent not in out["failed"]:
            out["failed"].append(failure.parent)
    return out


class SweepOutcome(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        outcome = sweep_outcome(sweep_dir)
        failed = outcome["failed"]
        print(
            f"mmc: sweep {sweep_dir}: {len(outcome['completed'])} job(s) completed, "
            f"{len(failed)} failed; tables and plots: mmc report {sweep_dir}",
            flush=True,
        )
        if failed:
            for job in failed:
                msg = json.loads((job / FAILURE).read_text()).get("message", "")
                print(f"mmc: failed job {job}: {msg}", flush=True)
            raise SystemExit(EXIT_JOBS_FAILED)
