"""W&B in sweeps: group/name/tags from the sweep, best-epoch summary, rank line chart."""

from __future__ import annotations

from pathlib import Path

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
    charts = wl.chart_series(history)
    title, ranks = charts["charts/effective_rank"]
    assert ranks["fused"] == [(0, 9.0), (1, 7.0), (2, 5.0)]
    assert ranks["m0"] == [(0, 4.0), (2, 3.0)]  # the epoch without a value is left out
    assert "val_masked/accuracy" not in str(charts)  # no masked metric logged, no such chart


def test_chart_series_overlay_modalities_and_masked_metric():
    nan = float("nan")
    history = {e: {"val_probe/accuracy": 0.9 + e / 100, "val_masked/m0/accuracy": 0.3 - e / 10,
                   "val_masked/m1/accuracy": 0.8, "contribution/m0": 0.6 + e / 10,
                   "contribution/m1": nan if e == 0 else 0.1,
                   "rank/m0/numerical": 10.0 - e, "rank/fused/numerical": 20.0}
               for e in range(3)}  # fmt: skip
    charts = wl.chart_series(history)
    assert set(charts) == {"charts/contribution", "charts/numerical_rank",
                           "charts/val_masked/accuracy"}  # fmt: skip
    _, masked = charts["charts/val_masked/accuracy"]
    assert list(masked) == ["all modalities", "m0 masked", "m1 masked"]
    assert [v for _, v in masked["m0 masked"]] == pytest.approx([0.3, 0.2, 0.1])
    _, contrib = charts["charts/contribution"]
    assert contrib["m1"] == [(1, 0.1), (2, 0.1)]
    _, numerical = charts["charts/numerical_rank"]
    assert numerical["m0"] == [(0, 10.0), (1, 9.0), (2, 8.0)]


def test_summary_values_keep_history_keys_for_the_curves():
    history = {0: {"contribution/m0": 0.5, "rank/fused/effective": 9.0, "val/accuracy": 0.8}}
    flat = {"test/accuracy": 0.9, "contribution/m0": 0.7, "rank/fused/effective": 7.0,
            "test_masked/m0/accuracy": 0.2, "val/accuracy": 0.85, "collapse/gap": 0.4}  # fmt: skip
    assert wl.summary_values(flat, history) == {
        "test/accuracy": 0.9,
        "test/contribution/m0": 0.7,
        "test/rank/fused/effective": 7.0,
        "test/masked/m0/accuracy": 0.2,
        "best/val/accuracy": 0.85,
        "collapse/gap": 0.4,
    }


def test_readable_config_names_the_choices():
    cfg = {"dataset": {"name": "synthetic", "source": {}}, "backbone": {"_target_": "x.Concat"},
           "remedy": {"_target_": "x.NoRemedy"}, "seed": 0}  # fmt: skip
    out = wl.readable_config(cfg, {"dataset": "synthetic", "backbone": "concat",
                                   "remedy": "none", "logger": "wandb"}, "fig5")  # fmt: skip
    assert (out["dataset"], out["backbone"], out["remedy"]) == ("synthetic", "concat", "none")
    assert out["dataset_config"]["source"] == {} and out["experiment"] == "fig5"
    assert "logger" not in out and cfg["dataset"]["name"] == "synthetic"  # input untouched


def test_sweep_group_is_a_name_not_a_path():
    from mmc.sweep.overrides import sweep_group

    default = Path("outputs/multirun/2026-12-02/14-30-05.123456")
    assert sweep_group(default, "synthetic_collapse", ["remedy"]) == (
        "synthetic_collapse @ 2026-12-02 14:30:05"
    )
    assert sweep_group(default, None, ["remedy", "data.missing_rate", "seed"]) == (
        "sweep remedy × data.missing_rate @ 2026-12-02 14:30:05"
    )
    assert sweep_group(Path("/scratch/me/fig5_rerun"), None, []) == "sweep @ fig5_rerun"


def test_sweep_run_gets_group_name_tags_and_best_epoch_summary(monkeypatch, tmp_path):
    import wandb

    runs: list[FakeRun] = []
    monkeypatch.setattr(wandb, "init", lambda **kw: runs.append(FakeRun(**kw)) or runs[-1])
    monkeypatch.setattr(
        wl, "sweep_identity", lambda: ("multirun/s1", "remedy=ebr,seed=1", ["experiment:fig5"])
    )
    logger = wl.WandbLogger(mode="offline", charts_every_s=0)
    logger.start({"name": None}, tmp_path, "synthetic-concat-ebr-s1", ["dataset:synthetic"],
                 choices={"dataset": "synthetic", "backbone": "concat", "remedy": "ebr"})  # fmt: skip
    init = runs[0].init
    assert init["group"] == "multirun/s1" and init["name"] == "remedy=ebr,seed=1"
    assert init["job_type"] == "ebr" and init["config"]["remedy"] == "ebr"
    assert init["tags"] == ["dataset:synthetic", "experiment:fig5"]
    for epoch, (acc, rank) in enumerate([(0.5, 9.0), (0.9, 8.0), (0.7, 6.0)]):
        logger.log({"val/accuracy": acc, "rank/fused/effective": rank}, epoch)
    logger.summary({"best_epoch": 1, "test/accuracy": 0.88, "rank/fused/effective": 5.5})
    summary = runs[0].summary
    assert summary["best/val/accuracy"] == pytest.approx(0.9)
    assert summary["best/rank/fused/effective"] == pytest.approx(8.0)
    assert summary["test/accuracy"] == 0.88 and summary["test/rank/fused/effective"] == 5.5
    # The rank chart is redrawn at every diagnostics epoch (live), not once at the end.
    # The rank chart is redrawn at every diagnostics epoch (live), and once more at the end.
    assert [("charts/effective_rank" in d) for d in runs[0].logged] == [True] * 4


def test_chart_redraws_are_throttled(monkeypatch, tmp_path):
    import wandb

    runs: list[FakeRun] = []
    monkeypatch.setattr(wandb, "init", lambda **kw: runs.append(FakeRun(**kw)) or runs[-1])
    logger = wl.WandbLogger(mode="offline", charts_every_s=3600)
    logger.start({"name": None}, tmp_path, "run", [])
    for epoch in range(3):
        logger.log({"loss/total": 1.0, "rank/fused/effective": 5.0 - epoch}, epoch)
    logger.summary({"best_epoch": 2})
    drawn = [("charts/effective_rank" in d) for d in runs[0].logged]
    assert drawn == [True, False, False, True]  # the first epoch, then the final curves


def test_user_name_and_group_win(monkeypatch, tmp_path):
    import wandb

    runs: list[FakeRun] = []
    monkeypatch.setattr(wandb, "init", lambda **kw: runs.append(FakeRun(**kw)) or runs[-1])
    monkeypatch.setattr(wl, "sweep_identity", lambda: ("multirun/s1", "remedy=ebr", []))
    wl.WandbLogger(mode="offline", group="mine").start({"name": "chosen"}, tmp_path, "chosen", [])
    assert runs[0].init["group"] == "mine" and runs[0].init["name"] == "chosen"
