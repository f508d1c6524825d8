"""Per-job sweep logic: GPU per job, skip/resume/refuse on re-runs, sweep-level names."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from mmc.errors import ConfigError
from mmc.sweep.devices import device_for_job, n_jobs
from mmc.sweep.jobs import FAILURE, previous_state
from mmc.sweep.overrides import run_name, sweep_overrides, varying_keys


def test_jobs_are_spread_over_the_listed_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert [device_for_job([0, 1, 2, 3], k) for k in range(6)] == [
        "cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:0", "cuda:1",
    ]  # fmt: skip
    assert device_for_job([2, 3], 5) == "cuda:3"
    with pytest.raises(ConfigError, match=r"GPU\(s\) \[7\]"):
        device_for_job([0, 7], 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        device_for_job([0], 0)
    assert n_jobs([0, 1, 2]) == 3 and n_jobs([]) == 2


def test_previous_state_skips_resumes_or_refuses(compose, tmp_path):
    cfg = compose("train.lr=0.001")
    run = tmp_path / "job"
    assert previous_state(run, cfg) == "new"
    run.mkdir()
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    assert previous_state(run, cfg) == "new"  # config written, nothing trained yet
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    assert previous_state(run, cfg) == "partial"
    # A run on another GPU or with another logger is the same job.
    assert previous_state(run, compose("train.lr=0.001", "device=cpu", "logger=wandb")) == "partial"
    (run / "summary.json").write_text(json.dumps({"status": "completed"}))
    assert previous_state(run, cfg) == "completed"
    # A different config in the same job dir: never overwrite a finished run ...
    with pytest.raises(ConfigError, match="train.lr differs"):
        previous_state(run, compose("train.lr=0.01"))
    # ... but a failed attempt is cleared and the job starts afresh.
    (run / FAILURE).write_text("{}")
    assert previous_state(run, compose("train.lr=0.01")) == "new"
    assert not (run / "summary.json").exists() and not (run / "checkpoints").exists()


def test_run_names_use_only_the_varying_overrides(tmp_path):
    (tmp_path / "multirun.yaml").write_text(
        "hydra:\n"
        "  sweeper:\n    params:\n      data.missing_rate: 0.1,0.3\n"
        "  overrides:\n    task: [logger=none, 'remedy=none,ebr', seed=0]\n"
    )
    keys = varying_keys(sweep_overrides(tmp_path))
    assert sorted(keys) == ["data.missing_rate", "remedy"]
    job = ["logger=none", "remedy=ebr", "seed=0", "data.missing_rate=0.3"]
    assert run_name(job, keys) == "remedy=ebr,data.missing_rate=0.3"


def test_devices_without_gpus_fail_before_any_job_starts(monkeypatch):
    from mmc.app import validate_command_line

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        validate_command_line(["-m", "logger=none", "devices=[0,1]", "seed=0,1"])
