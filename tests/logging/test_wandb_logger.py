"""W&B: one run per job, `epoch` as the step metric, readable offline with `wandb leet`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmc.train import train


def _wandb_cli() -> str:
    exe = Path(sys.executable).with_name("wandb")
    return str(exe) if exe.exists() else shutil.which("wandb")


def test_offline_run_logs_rank_curves_per_epoch(compose, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose("logger=wandb", "logger.mode=offline", "train.epochs=2", run_dir=tmp_path)
    train(cfg)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    out = subprocess.run([_wandb_cli(), "leet", "inspect", "--json", str(runs[0])],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    if out.returncode != 0:
        pytest.fail(f"wandb leet inspect failed: {out.stderr[-500:]}")
    records = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    history = [r["history"]["item"] for r in records if r.get("type") == "history"]
    epochs = [h["epoch"] for h in history if "rank/fused/effective" in h]
    assert epochs == [0, 1]
    assert all("contribution/m1" in h and "val/accuracy" in h for h in history if "loss/total" in h)
    summary = subprocess.run([_wandb_cli(), "leet", "inspect", "--summary", "--json", str(runs[0])],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    info = json.loads(summary.stdout)
    assert info["state"] == "finished" and info["exit_code"] == 0
    assert "collapse/gap" in info["summary"]


def test_failed_job_still_finishes_its_run(compose, tmp_path, monkeypatch):
    import mmc.runners.classification as train_module

    monkeypatch.delenv("WANDB_MODE", raising=False)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(train_module, "train_epoch", boom)
    with pytest.raises(RuntimeError):
        train(compose("logger=wandb", "logger.mode=offline", run_dir=tmp_path))
    run = next((tmp_path / "wandb").glob("offline-run-*"))
    out = subprocess.run([_wandb_cli(), "leet", "inspect", "--summary", "--json", str(run)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert json.loads(out.stdout)["exit_code"] == 1
