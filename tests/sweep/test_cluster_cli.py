"""Cluster sweeps and Hydra conventions of `mmc train`: what is checked before launching and
where, sweeper syntax, the sweeper objective, completion, help, W&B environment, unattended
progress lines. The real SLURM cluster run is scripts/slurm_sweep_check.py (needs root and
the Debian slurm-wlm packages; its output is in the issue's closing note)."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmc.app import validate_command_line
from mmc.errors import ConfigError, MmcError
from mmc.sweep.expand import sweep_jobs
from mmc.sweep.objective import objective
from tests.conftest import TINY

MMC = [sys.executable, "-m", "mmc.cli"]
FAST = [*TINY, "train.epochs=1", "dataset.source.n_train=200", "diagnostics.unimodal=false"]
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")


def _mmc(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", **env}
    return subprocess.run(
        [*MMC, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


# ----------------------------------------------------------------- up-front checks
@no_gpu
def test_cuda_is_checked_on_the_compute_node_for_slurm_but_here_for_local():
    validate_command_line(["-m", "device=cuda", "hydra/launcher=slurm", "seed=0,1"])
    validate_command_line(["-m", "device=cuda", "hydra/launcher=slurm_gpu"])
    with pytest.raises(ConfigError, match="this machine has no CUDA GPU"):
        validate_command_line(["-m", "device=cuda", "hydra/launcher=local"])
    with pytest.raises(ConfigError, match="this machine has no CUDA GPU"):
        validate_command_line(["device=cuda"])


def test_devices_list_is_refused_up_front_for_slurm():
    with pytest.raises(ConfigError, match="sees only the GPUs given to it; drop devices"):
        validate_command_line(["-m", "devices=[0,1]", "hydra/launcher=slurm"])


def test_presets_ask_for_no_gpu_unless_the_gpu_one():
    from hydra import compose

    from mmc.config.compose import hydra_context

    with hydra_context():
        slurm = compose("config", ["hydra/launcher=slurm"], return_hydra_config=True)
        gpu = compose("config", ["hydra/launcher=slurm_gpu"], return_hydra_config=True)
    assert slurm.hydra.launcher.gpus_per_node == 0
    assert slurm.hydra.launcher.mem_gb <= 4 and slurm.hydra.launcher.cpus_per_task <= 2
    assert slurm.hydra.launcher.partition is None  # the cluster's default
    assert gpu.hydra.launcher.gpus_per_node == 1
    assert slurm.hydra.launcher._target_.endswith("MmcSlurmLauncher")


def test_glob_and_interval_sweeps_validate():
    validate_command_line(["-m", "backbone=glob(*)", *FAST])
    validate_command_line(["-m", "train.lr=interval(0.0001,0.1)", *FAST])
    validate_command_line(["-m", "train.lr=tag(log,interval(1e-4,1e-1))", *FAST])
    # interval's ends are checked: a bad end fails before launch
    with pytest.raises(ConfigError, match="train.lr=-1.0 must be > 0"):
        validate_command_line(["-m", "train.lr=interval(-1,0.1)", *FAST])
    with pytest.raises(MmcError, match="matches no value"):
        validate_command_line(["-m", "backbone=glob(nope*)", *FAST])


def test_glob_expands_to_the_group_options():
    from mmc.app import _config_loader
    from mmc.config.compose import hydra_context

    with hydra_context():
        jobs = sweep_jobs(["backbone=glob(m*)", "seed=0,1"], None, _config_loader())
    assert sorted({j[0] for j in jobs}) == ["backbone=m3care", "backbone=muse"]
    assert len(jobs) == 4


def test_experiment_sweeper_params_are_validated_before_launch(tmp_path):
    exp = tmp_path / "experiment"
    exp.mkdir()
    (exp / "bad_rates.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n      data.missing_rate: 0.1,1.5\n"
    )
    with pytest.raises(ConfigError, match="data.missing_rate=1.5 is outside"):
        validate_command_line(["-m", "--config-dir", str(tmp_path), "experiment=bad_rates"])
    # the command line replaces the experiment's values for the same key
    validate_command_line(
        ["-m", "--config-dir", str(tmp_path), "experiment=bad_rates", "data.missing_rate=0.2"]
    )


def test_unknown_added_key_is_rejected_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match="did you mean train.lr"):
        validate_command_line(["+train.lrr=0.1"])
    with pytest.raises(ConfigError, match="unknown config key 'foo'"):
        validate_command_line(["+foo=1"])
    # a config group added with + (here from a lab's --config-dir) is not a key
    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "a.yaml").write_text("# @package _global_\nseed: 3\n")
    validate_command_line(["--config-dir", str(tmp_path), "+case=a"])


# ----------------------------------------------------------------- objective
def test_sweeper_objective_is_the_validation_metric():
    summary = {"monitor": "accuracy", "val": {"accuracy": 0.7}, "test": {"accuracy": 0.9}}
    assert objective(summary) == 0.7
    assert math.isnan(objective(None))


@pytest.mark.skipif(
    shutil.which("true") is None or not __import__("importlib").util.find_spec("optuna"),
    reason="the optuna extra is not installed (pip install mmc[optuna])",
)
def test_optuna_sweep_maximises_the_validation_metric(tmp_path):
    sweep = tmp_path / "opt"
    run = _mmc("train", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2",
               "hydra.sweeper.n_jobs=1", "train.lr=interval(0.0005,0.01)", *FAST,
               f"hydra.sweep.dir={sweep}", cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Directions: ['maximize']" in run.stderr + run.stdout
    result = (sweep / "optimization_results.yaml").read_text()
    vals = [json.loads(p.read_text())["val"]["accuracy"] for p in sweep.glob("*/summary.json")]
    best = float(result.split("best_value:")[1].split()[0])
    assert best == pytest.approx(max(vals))


# ----------------------------------------------------------------- submitit path
def test_submitit_failure_exits_nonzero_and_rerun_submits_only_what_is_left(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = ["train", "-m", "hydra/launcher=local_submitit", *FAST, "train.lr=0.003,1e12",
           f"hydra.sweep.dir={sweep}"]  # fmt: skip
    first = _mmc(*cmd, cwd=tmp_path)
    assert first.returncode == 1, first.stderr[-2000:]
    assert "1 job(s) completed, 1 failed" in first.stdout
    failure = json.loads((sweep / "1" / "failure.json").read_text())
    assert "diverged" in failure["message"]
    # the launcher adds the scheduler's view (submitit's local controller always exits 0;
    # on SLURM the job is FAILED with exit code 1: scripts/slurm_sweep_check.py)
    assert failure["slurm_state"] == "FINISHED" and Path(failure["job_log"]).exists()
    again = _mmc(*cmd, cwd=tmp_path)
    assert again.returncode == 1
    assert "submitting 1 of 2 job(s) (1 already completed)" in again.stderr + again.stdout


# ----------------------------------------------------------------- CLI conventions
def test_prepare_and_report_help(tmp_path):
    for command in ("prepare", "report"):
        out = _mmc(command, "--help", cwd=tmp_path)
        assert out.returncode == 0 and out.stdout.startswith(f"usage: mmc {command}"), out


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_bash_completion_for_mmc_train(tmp_path):
    mmc = Path(sys.executable).parent / "mmc"
    if not mmc.exists():
        pytest.skip("the mmc entry point is not installed in this environment")
    script = f"""
export PATH={mmc.parent}:$PATH
eval "$(mmc train -sc install=bash)"
COMP_LINE="mmc train backbone=m"; COMP_WORDS=(mmc train backbone=m); COMP_CWORD=2
COMP_POINT=${{#COMP_LINE}}
hydra_bash_completion; echo "${{COMPREPLY[@]}}"
COMP_LINE="mmc tr"; COMP_WORDS=(mmc tr); COMP_CWORD=1; hydra_bash_completion
echo "${{COMPREPLY[@]}}"
"""
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["backbone=m3care", "backbone=muse"], out.stderr
    assert lines[1] == "train"


def test_wandb_environment_is_respected_and_config_wins(monkeypatch):
    from mmc.logging.wandb_logger import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_PROJECT", "lab-proj")
    monkeypatch.setenv("WANDB_ENTITY", "lab")
    monkeypatch.setenv("WANDB_DIR", "/tmp/wandb-dir")
    env = WandbLogger()
    assert (env.mode, env.project, env.entity, env.dir) == (
        "offline", "lab-proj", "lab", "/tmp/wandb-dir",
    )  # fmt: skip
    explicit = WandbLogger(project="mine", entity="me", mode="disabled", dir="/x")
    assert (explicit.mode, explicit.project, explicit.entity, explicit.dir) == (
        "disabled", "mine", "me", "/x",
    )  # fmt: skip
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    with pytest.raises(ConfigError, match="WANDB_MODE='sometimes'"):
        WandbLogger()


def test_unattended_run_logs_each_epoch_and_train_log_holds_the_summary(tmp_path):
    run_dir = tmp_path / "run"
    out = _mmc("train", *TINY, "train.epochs=2", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    assert "epoch 1/2  loss " in text and "val/accuracy " in text and "ETA " in text
    assert "phase: unimodal baselines" in text
    log = (run_dir / "train.log").read_text()
    assert "epoch 2/2" in log and "rank " in log
    assert "mmc summary:" in log  # the final summary too


def test_epoch_log_line(caplog):
    from mmc.logging.progress import EpochLog

    line = EpochLog(0, 10, "accuracy")
    line.enabled = True
    with caplog.at_level(logging.INFO, logger="mmc"):
        line(0, {"loss/total": 0.5, "val/accuracy": 0.8, "rank/fused/effective": 3.25})
    msg = caplog.records[-1].getMessage()
    assert msg.startswith("epoch 1/10  loss 0.5000  val/accuracy 0.8000  rank 3.2")
    assert "ETA" in msg


def test_a_job_that_vanished_without_accounting_is_recorded_not_awaited_forever(
    tmp_path, monkeypatch
):
    from omegaconf import OmegaConf

    from mmc.sweep import launcher

    # Neither scontrol nor sacct knows the job and it left no result file.
    monkeypatch.setattr(launcher, "slurm_state", lambda job_id: (None, ""))
    monkeypatch.setattr(launcher, "VANISHED_AFTER_S", 0.05)

    class Job:
        job_id = "42_1"

        class paths:
            result_pickle = tmp_path / "42_1_result.pkl"
            stderr = tmp_path / "%j_0_log.err"

    waiter = launcher.MmcSubmitit()
    waiter._EXECUTOR, waiter.poll_s = "slurm", 0.01
    cfg = OmegaConf.create(
        {"hydra": {"job": {"name": "train"}, "sweep": {"dir": str(tmp_path), "subdir": "1"}}}
    )
    ret = waiter._await(Job(), ["seed=1"], cfg, [])
    assert math.isnan(ret.return_value)
    failure = json.loads((tmp_path / "1" / "failure.json").read_text())
    assert failure["slurm_state"] == "VANISHED" and failure["error"] == "SlurmJobVanished"
    assert "no accounting" in failure["message"] and failure["overrides"] == ["seed=1"]
