"""W&B in sweeps: group/name/tags from the sweep, best-epoch summary, rank line chart."""

from __future__ import annotations

import math

import pytest

import mmc.logging.wandb_logger as wl


class FakeRun:
    def __init__(self, **kwargs) -> None:
        self.init = kwargs
        self.summary: dict = {}
        self.logged: list[dict] = []
        self.dir = "/tmp/fake/files"

    def define_metric(self, *args, **kwargs) -> None:
        pass

    def log(self, data: dict) -> None:
        self.logged.append(data)

    def finish(self, exit_code: int = 0) -> None:
        pass


def test_pure_helpers():
    history = {0: {"val/auroc": 0.7, "rank/fused/effective": 9.0, "rank/m0/effective": 4.0},
               1: {"val/auroc": 0.8, "rank/fused/effective": 7.0},
               2: {"val/auroc": 0.75, "rank/fused/effective": 5.0, "rank/m0/effective": 3.0}}  # fmt: skip
    assert wl.best_epoch_values(history, 1) == {
        "best/val/auroc": 0.8,
        "best/rank/fused/effective": 7.0,
    }
    assert wl.best_epoch_values(history, None) == {}
    curves = wl.rank_curves(history)
    assert curves["fused"] == [9.0, 7.0, 5.0]
    assert curves["m0"][0] == 4.0 and math.isnan(curves["m0"][1])


def test_sweep_run_gets_group_name_tags_and_best_epoch_summary(monkeypatch, tmp_path):
    import wandb

    runs: list[FakeRun] = []
    monkeypatch.setattr(wandb, "init", lambda **kw: runs.append(FakeRun(**kw)) or runs[-1])
    monkeypatch.setattr(
        wl, "sweep_identity", lambda: ("multirun/s1", "remedy=ebr,seed=1", ["experiment:fig5"])
    )
    logger = wl.WandbLogger(mode="offline")
    logger.start({"name": None}, tmp_path, "synthetic-concat-ebr-s1", ["dataset:synthetic"])
    init = runs[0].init
    assert init["group"] == "multirun/s1" and init["name"] == "remedy=ebr,seed=1"
    assert init["tags"] == ["dataset:synthetic", "experiment:fig5"]
    for epoch, (acc, rank) in enumerate([(0.5, 9.0), (0.9, 8.0), (0.7, 6.0)]):
        logger.log({"val/accuracy": acc, "rank/fused/effective": rank}, epoch)
    logger.summary({"best_epoch": 1, "test/accuracy": 0.88})
    summary = runs[0].summary
    assert summary["best/val/accuracy"] == pytest.approx(0.9)
    assert summary["best/rank/fused/effective"] == pytest.approx(8.0)
    assert summary["test/accuracy"] == 0.88
    assert any("charts/effective_rank" in d for d in runs[0].logged)


def test_user_name_and_group_win(monkeypatch, tmp_path):
    import wandb

    runs: list[FakeRun] = []
    monkeypatch.setattr(wandb, "init", lambda **kw: runs.append(FakeRun(**kw)) or runs[-1])
    monkeypatch.setattr(wl, "sweep_identity", lambda: ("multirun/s1", "remedy=ebr", []))
    wl.WandbLogger(mode="offline", group="mine").start({"name": "chosen"}, tmp_path, "chosen", [])
    assert runs[0].init["group"] == "mine" and runs[0].init["name"] == "chosen"
