"""Every option has a tiny test setting (tests/options.py), and every optimiser, scheduler,
logger and data set trains on it. Backbones and remedies run in tests/backbones/ and
tests/remedies/, substitutions and extra diagnostics in tests/remedies/ and
tests/diagnostics/, all from the same tables."""

from __future__ import annotations

import json
import math

import pytest

from mmc.diagnostics.extra import EXTRA as EXTRA_DIAGNOSTICS
from mmc.remedies.substitution import SUBSTITUTIONS
from mmc.train import train
from tests.conftest import MIMIC_DEMO, MIMIC_SKIP
from tests.options import (
    EXTRA,
    GROUPS,
    LOGGER,
    OPTIMIZER,
    SCHEDULER,
    SUBSTITUTION,
    dataset_setting,
    options,
)


def _same(found: list[str], table: dict, where: str) -> None:
    missing, stale = sorted(set(found) - set(table)), sorted(set(table) - set(found))
    assert not missing, f"{where}: give {missing} a tiny test setting in tests/options.py"
    assert not stale, f"tests/options.py lists {stale}, which {where} no longer has"


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_config_option_has_a_tiny_setting(group):
    _same(options(group), GROUPS[group], f"conf/{group}/")


def test_every_substitution_and_extra_diagnostic_has_a_tiny_setting():
    _same(list(SUBSTITUTIONS), SUBSTITUTION, "mmc.remedies.substitution.SUBSTITUTIONS")
    _same(list(EXTRA_DIAGNOSTICS), EXTRA, "mmc.diagnostics.extra.EXTRA")


def _lrs(run_dir) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["lr"] for line in lines if '"lr"' in line]


@pytest.mark.parametrize("option", sorted(OPTIMIZER))
def test_every_optimizer_trains(compose, tmp_path, option):
    cfg = compose(f"optimizer={option}", *OPTIMIZER[option], "diagnostics.unimodal=false",
                  run_dir=tmp_path)  # fmt: skip
    summary = train(cfg)
    assert summary["status"] == "completed" and math.isfinite(summary["test"]["accuracy"])
    assert summary["test"]["accuracy"] > 0.2  # 3 epochs on the synthetic set; chance is 0.1


@pytest.mark.parametrize("option", sorted(SCHEDULER))
def test_every_scheduler_sets_the_epoch_lr(compose, tmp_path, option):
    cfg = compose(f"scheduler={option}", *SCHEDULER[option], "train.epochs=3",
                  "diagnostics.unimodal=false", run_dir=tmp_path)  # fmt: skip
    train(cfg)
    lr = cfg.train.lr
    expected = {
        "none": [lr, lr, lr],
        "cosine": [lr, lr * 0.75, lr * 0.25],  # (1 + cos(pi t / 3)) / 2
        "step": [lr, lr * 0.5, lr * 0.25],
        "step_50": [lr, lr, lr],
    }[option]
    assert _lrs(tmp_path) == pytest.approx(expected)


@pytest.mark.parametrize("option", sorted(LOGGER))
def test_every_logger_runs(compose, tmp_path, option):
    cfg = compose(f"logger={option}", *LOGGER[option], "train.epochs=1",
                  "diagnostics.unimodal=false", run_dir=tmp_path)  # fmt: skip
    assert train(cfg)["status"] == "completed"


@pytest.mark.parametrize("name", options("dataset"))
def test_every_dataset_trains_on_its_tiny_setting(compose, tmp_path, tiny_dataset_roots, name):
    if name == "mimic" and not MIMIC_DEMO.is_dir():
        pytest.skip(MIMIC_SKIP.format(root=MIMIC_DEMO))
    task = compose(f"dataset={name}", tiny=False).dataset.get("task")
    # Each runner refuses the other's settings.
    runner = (
        [f"dataset.collapse_reference.dir={tmp_path / 'ref'}"]
        if task == "retrieval"
        else ["diagnostics.unimodal_epochs=1"]
    )
    cfg = compose(*dataset_setting(name, tiny_dataset_roots), "train.epochs=1", "logger=none",
                  "progress=false", *runner, tiny=False, run_dir=tmp_path)  # fmt: skip
    summary = train(cfg)
    assert summary["status"] == "completed"
    assert all(math.isfinite(v) for v in summary["test"].values() if isinstance(v, float))


def test_every_extra_diagnostic_runs_and_lands_in_the_summary(compose, tmp_path):
    names = sorted(EXTRA)
    settings = [o for n in names for o in EXTRA[n]]
    cfg = compose("dataset.source.n_modalities=3", "train.epochs=2", *settings,
                  f"diagnostics.extra=[{','.join(names)}]", run_dir=tmp_path)  # fmt: skip
    extra = train(cfg)["extra"]
    assert set(extra) >= set(names), sorted(set(names) - set(extra))
    assert all(extra[n] for n in names)  # each wrote something
