"""The runner comes from the data set's task; what it cannot use is refused in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mmc.errors import ConfigError
from mmc.runners.lifecycle import choices
from mmc.runners.select import RETRIEVAL, check_runner, datasets_of
from mmc.train import RUNNERS, train


def _runner(compose, *overrides):
    cfg = compose(*overrides, tiny=False)
    return check_runner(cfg, choices(cfg)).name


def test_the_task_picks_the_runner(compose):
    assert _runner(compose) == "classification"
    assert _runner(compose, "dataset=mimic") == "classification"  # task: mortality
    assert _runner(compose, "dataset=synthetic_pairs") == "retrieval"
    assert _runner(compose, "dataset=synthetic_pairs", "remedy=repblend") == "retrieval"
    assert set(RUNNERS) == {"classification", "retrieval"}


def test_retrieval_data_sets_are_read_from_the_configs():
    assert datasets_of(RETRIEVAL) == [
        "flickr30k",
        "mscoco",
        "synthetic_pairs",
        "synthetic_pairs_collapse",
    ]


def test_keys_a_retrieval_run_ignores_are_refused(compose, tmp_path):
    cfg = compose(
        "dataset=synthetic_pairs", "backbone=muse", "substitution=mean",
        "diagnostics.extra=[cka]", "data.missing_rate=0.5", tiny=False, run_dir=tmp_path,
    )  # fmt: skip
    with pytest.raises(ConfigError) as e:
        train(cfg)
    msg = str(e.value)
    for named in ("substitution=mean", "data.missing_rate=0.5", "diagnostics.extra=[cka]"):
        assert named in msg
    assert "backbone=muse" in msg and "\n" not in msg
    assert not (tmp_path / "config.yaml").exists()  # refused before anything is written


def test_retrieval_keys_on_a_classification_run_are_refused(compose):
    with pytest.raises(ConfigError, match="does not use data.coreset=random"):
        _runner(compose, "data.coreset=random")


def test_a_remedy_names_the_data_sets_of_its_runner(compose):
    with pytest.raises(ConfigError, match="runs on retrieval data sets .*flickr30k"):
        _runner(compose, "remedy=repblend")
    with pytest.raises(ConfigError, match="does not apply to retrieval"):
        _runner(compose, "dataset=synthetic_pairs", "remedy=ebr")


def test_the_command_line_refuses_before_any_job_starts(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "mmc.cli", "train", "dataset=synthetic_pairs", "backbone=muse",
         f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "mmc: error: dataset=synthetic_pairs runs on the retrieval runner, which does not use "
        "backbone=muse; drop them"
    ]
    assert not (tmp_path / "run").exists()
