"""The `mmc` command line: subcommands, Hydra flags, and one-line errors with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MMC = [sys.executable, "-m", "mmc.cli"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [*MMC, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_help_lists_subcommands(tmp_path):
    out = run(["--help"], tmp_path)
    assert out.returncode == 0
    assert "train" in out.stdout and "prepare" in out.stdout


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("dataset=nope", "unknown dataset 'nope'; valid choices: "),
        ("backbone=nope", "unknown backbone 'nope'; valid choices: "),
        ("remedy=nope", "unknown remedy 'nope'; valid choices: "),
        ("data.missing_rate=1.5", "data.missing_rate=1.5 is outside [0, 1]"),
        ("device=cuda:7", "device=cuda:7"),
        ("data.missing_rat=0.3", "did you mean data.missing_rate?"),
        ("train.epochs=abc", "train.epochs"),
        ("optimizer=adamm", "unknown optimizer 'adamm'; valid choices: adam, adamw, sgd"),
        ("train.momentum=0.5", "use optimizer=sgd optimizer.momentum=..."),
        ("train.checkpoint_every_s=-1", "train.checkpoint_every_s=-1.0 must be >= 0"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, override, expected):
    out = run(["train", override], tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmc: error: "), out.stderr
    assert expected in lines[0]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "outputs").exists(), "nothing is written for a rejected command"


def test_bad_choice_inside_a_sweep_fails_before_any_job(tmp_path):
    out = run(["train", "-m", "remedy=none,nope", "logger=none"], tmp_path)
    assert out.returncode == 2
    assert "unknown remedy 'nope'" in out.stderr
    assert not (tmp_path / "outputs").exists()


def test_unknown_subcommand(tmp_path):
    out = run(["trian"], tmp_path)
    assert out.returncode == 2 and "unknown command 'trian'" in out.stderr


def test_hydra_flags_still_work(tmp_path):
    out = run(["train", "--cfg", "job", "backbone=late"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "mmc.backbones.late.LateFusion" in out.stdout
    out = run(["train", "--help"], tmp_path)
    assert out.returncode == 0 and "backbone: " in out.stdout


def test_train_writes_a_run_directory(tmp_path):
    out = run(
        ["train", "logger=none", "train.epochs=1", "dataset.source.n_train=300",
         "diagnostics.unimodal=false", "hydra.run.dir=run"],
        tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / "run"
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints/last.pt",
                 "checkpoints/best.pt", ".hydra/config.yaml"):  # fmt: skip
        assert (run_dir / name).exists(), name
    assert "mmc summary" in out.stdout
