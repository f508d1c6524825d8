"""Submitit launchers (`hydra/launcher=slurm`, `local_submitit`) that behave on a real cluster.

On top of hydra-submitit-launcher:
- jobs already completed in the sweep directory are not submitted again (a re-run asks the
  cluster only for what is left);
- a sbatch rejection is one line with sbatch's reason, exit 2;
- a job that SLURM cancels or kills (scancel, node failure, time limit after the last
  requeue) is recorded as a failed job (failure.json with SLURM's state) while the others are
  awaited, so the sweep still prints its summary and exits 1; a job that vanished from the
  queue with no accounting to ask is given up on instead of awaited forever;
- a job that fails inside mmc exits non-zero, so SLURM shows it FAILED, not COMPLETED.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import DictConfig, OmegaConf, open_dict

from mmc.errors import fail
from mmc.logging.recorder import write_json_atomic
from mmc.sweep.jobs import config_difference
from mmc.sweep.objective import objective

log = logging.getLogger("mmc")
# As mmc.sweep.jobs (not imported here: Hydra imports this module at every start).
FAILURE, SUMMARY = "failure.json", "summary.json"

# SLURM states after which a job will not run again (PREEMPTED/REQUEUED jobs come back).
FINAL_STATES = {
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
    "OUT_OF_MEMORY", "TIMEOUT", "REVOKED", "SPECIAL_EXIT",
}  # fmt: skip
# A job neither squeue/scontrol nor sacct knows for this long has vanished.
VANISHED_AFTER_S = 60.0


def job_dir(sweep_config: DictConfig) -> Path:
    """Where a job writes (mmc.sweep.jobs.run_sweep_job): run_dir, else the sweep subdir."""
    if sweep_config.get("run_dir"):
        return Path(str(sweep_config.run_dir))
    hydra = sweep_config.hydra
    return Path(str(hydra.sweep.dir)) / str(hydra.sweep.subdir)


def completed_summary(run_dir: Path, task_cfg: DictConfig) -> dict | None:
    """The summary of a completed run of this very config in run_dir, else None."""
    summary, saved = run_dir / SUMMARY, run_dir / "config.yaml"
    if not (summary.exists() and saved.exists()) or (run_dir / FAILURE).exists():
        return None
    try:
        done = json.loads(summary.read_text())
        same = config_difference(OmegaConf.load(saved), task_cfg)
    except Exception:  # unreadable or unresolvable: let the job itself decide
        return None
    return done if done.get("status") == "completed" and same is None else None


def slurm_state(job_id: str) -> tuple[str | None, str]:
    """(state, exit code) of a SLURM job from scontrol (works without accounting), else sacct.

    state is None when neither knows the job (yet, or any more).
    """
    try:
        out = subprocess.run(
            ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    for line in out.splitlines():
        # An array is listed task by task; keep the line of this task.
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        task = f"{fields.get('ArrayJobId')}_{fields.get('ArrayTaskId')}"
        if fields.get("JobId") == job_id or task == job_id:
            return fields.get("JobState"), fields.get("ExitCode", "")
    try:
        out = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-o", "JobID,State,ExitCode", "-j", job_id],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None, ""
    for line in out.stdout.splitlines() if out.returncode == 0 else []:
        jid, state, code = (line.split("|") + ["", ""])[:3]
        if jid == job_id:
            return state.split()[0], code  # "CANCELLED by 0" -> CANCELLED
    return None, ""


class MmcSubmitit:
    """Shared by the SLURM and local launchers (mixed in before the plugin's classes)."""

    _EXECUTOR: str
    params: dict
    config: DictConfig
    hydra_context: Any
    poll_s: float = 2.0

    # ---------------------------------------------------------------- inside the job
    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        ret = super().__call__(*args, **kwargs)  # type: ignore[misc]
        run_dir = Path(str(ret.cfg.get("run_dir") or ret.hydra_cfg.hydra.runtime.output_dir))
        if (run_dir / FAILURE).exists():
            # failure.json is written; a non-zero exit makes SLURM show the job FAILED.
            # SystemExit, not an exception: submitit would print a second traceback.
            logging.shutdown()
            sys.stdout.flush()
            raise SystemExit(1)
        return ret

    # ---------------------------------------------------------------- on the submitting node
    def _executor(self):
        import submitit

        params = dict(self.params)
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{self._EXECUTOR}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
        generic = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in generic else f"{self._EXECUTOR}_{k}": v for k, v in params.items()}
        )
        return executor

    def _sweep_config(self, overrides: Sequence[str], idx: int) -> DictConfig:
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = idx
        return cfg

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int):
        from hydra.core.singleton import Singleton

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        returns: dict[int, JobReturn] = {}
        todo: list[tuple[int, list[str], DictConfig]] = []
        for k, overrides in enumerate(job_overrides):
            idx = initial_job_idx + k
            cfg = self._sweep_config(overrides, idx)
            task = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
            done = completed_summary(job_dir(cfg), task)
            if done is not None:
                returns[idx] = _job_return(list(overrides), cfg, objective(done))
            else:
                todo.append((idx, list(overrides), cfg))
        log.info(
            "submitit '%s' sweep %s: submitting %d of %d job(s) (%d already completed)",
            self._EXECUTOR, sweep_dir, len(todo), len(job_overrides), len(returns),
        )  # fmt: skip
        for idx, overrides, _ in todo:
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        if todo:
            jobs = self._submit(
                [(o, "hydra.sweep.dir", i, f"job_id_for_{i}", Singleton.get_state())
                 for i, o, _ in todo]
            )  # fmt: skip
            for (idx, overrides, cfg), job in zip(todo, jobs):
                returns[idx] = self._await(job, overrides, cfg, jobs)
        return [returns[initial_job_idx + k] for k in range(len(job_overrides))]

    def _submit(self, job_params: list[tuple]) -> list:
        from submitit.core.utils import FailedJobError

        executor = self._executor()
        # submitit prints sbatch's stderr itself before raising; keep it for the one line.
        captured = io.StringIO()
        try:
            with contextlib.redirect_stderr(captured):
                return executor.map_array(self, *zip(*job_params))
        except FailedJobError as e:
            lines = [ln.strip() for ln in (str(e) or captured.getvalue()).splitlines()]
            reasons = [ln.removeprefix("sbatch: error: ") for ln in lines if ln]
            fail(
                f"the cluster rejected the sweep ({self._EXECUTOR}): {'; '.join(reasons)}; "
                "change the request with hydra.launcher.partition/gpus_per_node/cpus_per_task/"
                "mem_gb/timeout_min (docs/sweeps.md, 'Cluster presets')"
            )
        except FileNotFoundError as e:  # no sbatch on this machine
            fail(f"cannot submit to SLURM: {e.filename or e} not found; run on a login node")
        raise AssertionError("unreachable")

    def _state(self, job) -> tuple[str | None, str]:
        if self._EXECUTOR == "slurm":
            return slurm_state(str(job.job_id))
        # Local executor: the process's own state; its exit code says failed or not.
        process = getattr(job, "_process", None)
        code = process.poll() if process is not None else None
        return (job.state if job.done() else "RUNNING"), ("" if code is None else str(code))

    def _await(self, job, overrides: list[str], cfg: DictConfig, all_jobs: list) -> JobReturn:
        """Wait for one job; a job killed from outside becomes a recorded failure."""
        unknown_since: float | None = None
        state, code = None, ""
        while True:
            if job.paths.result_pickle.exists():
                break
            state, code = self._state(job)
            if state is None:
                unknown_since = unknown_since or time.monotonic()
                if time.monotonic() - unknown_since > VANISHED_AFTER_S:
                    state = "VANISHED"
                    break
            else:
                unknown_since = None
                if state.split()[0] in FINAL_STATES or state in ("FINISHED", "INTERRUPTED"):
                    time.sleep(self.poll_s)  # the result file may land just after the state
                    if not job.paths.result_pickle.exists():
                        break
            time.sleep(self.poll_s)
        run_dir = job_dir(cfg)
        if job.paths.result_pickle.exists():
            try:
                return job.result()
            except Exception as e:  # raised inside the job outside mmc's own handling
                state, message = state or "FAILED", " ".join(str(e).split())[-500:]
        else:
            message = ""
        state = (state or "UNKNOWN").split()[0]
        _record_killed(run_dir, job, state, code, overrides, message)
        log.error("job %s (%s) ended %s; recorded in %s", job.job_id, run_dir, state,
                  run_dir / FAILURE)  # fmt: skip
        return _job_return(overrides, cfg, math.nan)


def _record_killed(
    run_dir: Path, job, state: str, code: str, overrides: list[str], message: str
) -> None:
    """failure.json for a job that did not end through mmc (or add SLURM's view to mmc's)."""
    path = run_dir / FAILURE
    stderr = str(job.paths.stderr).replace("%j", str(job.job_id))
    info = {"slurm_job_id": str(job.job_id), "slurm_state": state, "slurm_exit_code": code,
            "job_log": stderr}  # fmt: skip
    if path.exists():  # mmc recorded why it failed; keep that and add the cluster's state
        write_json_atomic(path, {**json.loads(path.read_text()), **info})
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    why = {
        "VANISHED": "left the queue with no result and no accounting (sacct) to say why",
        "CANCELLED": "was cancelled (scancel or an administrator)",
        "TIMEOUT": "ran out of time after its last requeue (raise hydra.launcher.timeout_min)",
        "NODE_FAIL": "lost its node",
        "OUT_OF_MEMORY": "ran out of memory (raise hydra.launcher.mem_gb)",
    }.get(state, f"ended {state}")
    write_json_atomic(
        path,
        {
            "status": "failed",
            "error": "SlurmJobEnded" if state != "VANISHED" else "SlurmJobVanished",
            "message": f"job {job.job_id} {why} before mmc finished; "
            f"re-run the sweep to resume it; log: {stderr}" + (f"; {message}" if message else ""),
            "user_error": False,
            "overrides": overrides,
            **info,
        },
    )


def _job_return(overrides: list[str], cfg: DictConfig, value: float) -> JobReturn:
    """A JobReturn for a job that did not return through Hydra (skipped, killed)."""
    ret = JobReturn()
    ret.overrides = overrides
    ret.cfg = cfg
    ret.hydra_cfg = cfg
    ret.working_dir = os.getcwd()
    ret.task_name = str(cfg.hydra.job.name)
    ret.status = JobStatus.COMPLETED
    ret.return_value = value
    return ret


def register_launchers() -> None:
    """Make hydra/launcher=slurm|local_submitit findable in an editable install too.

    Hydra discovers plugins on the hydra_plugins namespace path, which an editable install
    (a mapped package-dir) does not extend; a wheel install is found either way.
    """
    from hydra.core.plugins import Plugins
    from hydra_plugins.mmc_launcher.mmc_launcher import MmcLocalLauncher, MmcSlurmLauncher

    for launcher in (MmcSlurmLauncher, MmcLocalLauncher):
        Plugins.instance().register(launcher)
