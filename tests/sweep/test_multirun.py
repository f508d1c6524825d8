"""Real sweeps through the CLI (subprocesses), with the joblib and submitit_local launchers,
then `mmc report` on them: failure isolation, exit status, skipping, report values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mmc.report.cli import main as report_main
from tests.conftest import TINY

MMC = [sys.executable, "-m", "mmc.cli"]
# Smaller than TINY: these runs only have to finish, several at a time on two cores.
FAST = [*TINY, "train.epochs=1", "dataset.source.n_train=200", "diagnostics.unimodal=false"]


def _mmc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    return subprocess.run(
        [*MMC, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _summaries(sweep: Path) -> dict[int, dict]:
    return {int(p.parent.name): json.loads(p.read_text()) for p in sweep.glob("*/summary.json")}


def test_joblib_sweep_survives_a_failed_job_and_skips_completed_ones(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = ["train", "-m", "hydra/launcher=local", *FAST, "train.lr=0.003,1e12", "seed=0,1",
           f"hydra.sweep.dir={sweep}"]  # fmt: skip
    first = _mmc(*cmd, cwd=tmp_path)
    # Jobs: 0 lr=0.003 s0, 1 lr=0.003 s1, 2 lr=1e12 s0, 3 lr=1e12 s1 (diverge).
    assert first.returncode == 1, first.stderr[-2000:]
    assert "2 job(s) completed, 2 failed" in first.stdout
    summaries = _summaries(sweep)
    assert sorted(summaries) == [0, 1]
    failure = json.loads((sweep / "2" / "failure.json").read_text())
    assert failure["user_error"] and "diverged" in failure["message"]
    assert "train.lr=1000000000000.0" in failure["overrides"]

    stamps = {n: (sweep / str(n) / "summary.json").stat().st_mtime_ns for n in (0, 1)}
    again = _mmc(*cmd, cwd=tmp_path)
    assert again.returncode == 1
    assert "already complete; skipping" in again.stderr + again.stdout
    assert {n: (sweep / str(n) / "summary.json").stat().st_mtime_ns for n in (0, 1)} == stamps

    assert report_main([str(sweep), "--metrics", "test/accuracy", "rank/fused/effective"]) == 0
    table = pd.read_csv(sweep / "report" / "table.csv", index_col=0)
    # train.lr varies only across failed jobs, so the one method is named by its groups.
    assert list(table.index) == ["concat / none"]
    acc = pd.Series([summaries[n]["test"]["accuracy"] for n in (0, 1)])
    rank = pd.Series([summaries[n]["rank"]["fused"]["effective"] for n in (0, 1)])
    row = table.loc["concat / none"]
    assert row["test/accuracy/mean"] == pytest.approx(acc.mean())
    assert row["test/accuracy/std"] == pytest.approx(acc.std())  # one rate: ± over seeds
    assert row["rank/fused/effective/mean"] == pytest.approx(rank.mean())
    assert "2 job(s) not included" in (sweep / "report" / "report.md").read_text()


def test_submitit_local_sweep_and_report(tmp_path):
    sweep = tmp_path / "sweep"
    run = _mmc("train", "-m", "hydra/launcher=local_submitit", *FAST, "backbone=concat,late",
               f"hydra.sweep.dir={sweep}", cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert (sweep / ".submitit").is_dir()
    summaries = _summaries(sweep)
    assert sorted(s["choices"]["backbone"] for s in summaries.values()) == ["concat", "late"]

    assert report_main([str(sweep), "--metrics", "test/accuracy", "rank/fused/effective"]) == 0
    table = pd.read_csv(sweep / "report" / "table.csv", index_col=0)
    for s in summaries.values():
        row = table.loc[s["choices"]["backbone"]]
        assert row["test/accuracy/mean"] == pytest.approx(s["test"]["accuracy"])
        assert row["rank/fused/effective/mean"] == pytest.approx(s["rank"]["fused"]["effective"])
        assert row["test/accuracy/count"] == 1


def test_an_experiment_files_sweep_counts_its_own_jobs(tmp_path):
    # The values an experiment file sweeps (hydra.sweeper.params) are part of the sweep: its
    # jobs were once all reported as "from an older sweep" and none as completed.
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "two_seeds.yaml").write_text(
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n      seed: 0,1\n"
    )
    sweep = tmp_path / "sweep"
    out = _mmc("train", "-m", "--config-dir", str(tmp_path / "conf"), "experiment=two_seeds",
               *FAST, f"hydra.sweep.dir={sweep}", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "2 job(s) completed, 0 failed" in out.stdout, out.stdout[-2000:]
    assert "older sweep" not in out.stdout + out.stderr
