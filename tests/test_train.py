"""The training loop: reproducibility, resume, collapse of the default, bad data."""

from __future__ import annotations

import json

import pytest
import torch

import mmc.runners.classification as train_module
from mmc.errors import DataError, MmcError
from mmc.train import train


def _metrics(run_dir):
    """Per-epoch records without wall-clock timings (the only part allowed to differ)."""
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in records]


def test_same_seed_same_metrics(compose, tmp_path):
    a = train(compose("seed=3", run_dir=tmp_path / "a"))
    b = train(compose("seed=3", run_dir=tmp_path / "b"))
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    assert a["test"] == b["test"] and a["unimodal"] == b["unimodal"]
    train(compose("seed=4", run_dir=tmp_path / "c"))
    assert _metrics(tmp_path / "c") != _metrics(tmp_path / "a")


def test_resume_after_a_kill_ends_with_the_same_metrics(compose, tmp_path, monkeypatch):
    overrides = ("train.epochs=4", "model.dropout=0.2", "scheduler=cosine")
    full = train(compose(*overrides, run_dir=tmp_path / "full"))

    real_epoch = train_module.train_epoch

    def killed_in_epoch_2(*args, **kwargs):
        if args[5] == 2:  # the epoch argument
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_epoch", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(compose(*overrides, run_dir=tmp_path / "killed"))
    assert [r["epoch"] for r in _metrics(tmp_path / "killed")] == [0, 1]
    monkeypatch.setattr(train_module, "train_epoch", real_epoch)

    resumed = train(compose(f"resume={tmp_path / 'killed'}"))
    assert resumed["test"] == full["test"]
    assert resumed["best_epoch"] == full["best_epoch"]
    assert _metrics(tmp_path / "killed") == _metrics(tmp_path / "full")
    # A finished run is not trained again.
    assert train(compose(f"resume={tmp_path / 'killed'}"))["test"] == full["test"]


def test_resume_without_checkpoint_is_a_clear_error(compose, tmp_path):
    with pytest.raises(MmcError, match="no such run directory"):
        train(compose(f"resume={tmp_path / 'nothing'}"))


def test_default_synthetic_benchmark_collapses(compose, tmp_path):
    # The default data and model, fewer epochs: the collapse appears within a few epochs.
    cfg = compose(
        "logger=none", "progress=false", "train.epochs=10", "diagnostics.unimodal_epochs=20",
        tiny=False, run_dir=tmp_path,
    )  # fmt: skip
    col = train(cfg)["collapse"]
    assert col["weakest"] == "m1" and col["strongest"] == "m0"
    assert col["weak_unimodal"] >= 0.6
    assert col["fused_strong_masked"] <= col["weak_unimodal"] - 0.2


def test_nan_in_observed_data_is_a_data_error(compose, tmp_path, monkeypatch):
    from mmc.data import synthetic

    real = synthetic.make_synthetic

    def with_nan(**kwargs):
        data = real(**kwargs)
        data.train.x["m1"][5, 0] = float("nan")
        return data

    monkeypatch.setattr(synthetic, "make_synthetic", with_nan)
    with pytest.raises(DataError, match="m1 has NaN/inf in 1 observed samples"):
        train(compose(run_dir=tmp_path))
    assert not (tmp_path / "metrics.jsonl").exists()


def test_nan_under_a_missing_mask_is_fine(compose, tmp_path, monkeypatch):
    from mmc.data import synthetic

    real = synthetic.make_synthetic

    def nan_where_missing(**kwargs):
        data = real(**kwargs)
        data.train.x["m1"][:50] = float("nan")
        data.train.mask["m1"][:50] = False
        return data

    monkeypatch.setattr(synthetic, "make_synthetic", nan_where_missing)
    summary = train(compose(run_dir=tmp_path))
    assert torch.isfinite(torch.tensor(summary["test"]["accuracy"]))


def test_missing_modalities_are_simulated_and_reported(compose, tmp_path):
    s = train(compose("data.missing_rate=0.5", "data.missing_modalities=[m0]", run_dir=tmp_path))
    patterns = s["data"]["missingness"]["train"]
    assert set(patterns) == {"m0+m1", "m1"}
    assert 0.4 < patterns["m1"] / sum(patterns.values()) < 0.6


def test_unknown_modality_in_config_is_an_error(compose, tmp_path):
    with pytest.raises(MmcError, match="data.missing_modalities entry='m9' is not a valid choice"):
        train(compose("data.missing_modalities=[m9]", run_dir=tmp_path))
