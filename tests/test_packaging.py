"""Configs live in top-level conf/ but ship as the package mmc.conf: found from a wheel too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_installed_wheel_finds_its_configs(tmp_path):
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    build = [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
             "-q", "-w", str(wheels)]  # fmt: skip
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("mmc-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert (site / "mmc" / "conf" / "dataset" / "synthetic.yaml").exists()
    env = {**os.environ, "PYTHONPATH": str(site), "WANDB_MODE": "disabled"}
    probe = "import mmc; print(mmc.__file__)"
    where = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert where.startswith(str(site)), "the test must exercise the wheel, not the checkout"
    run = subprocess.run(
        [sys.executable, "-m", "mmc.cli", "train", "logger=none", "train.epochs=1",
         "dataset.source.n_train=200", "diagnostics.unimodal=false", "hydra.run.dir=run"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "run" / "summary.json").exists()
