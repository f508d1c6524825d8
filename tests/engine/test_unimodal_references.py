"""Unimodal references: trained once per run, shared by the summary, KD and the diagnostics,
stopped early on validation."""

from __future__ import annotations

import pytest
from torch import nn

import mmc.engine.unimodal as unimodal
from mmc.engine.loop import fit
from mmc.errors import MmcError
from mmc.train import train


def test_one_reference_per_modality_serves_summary_kd_and_diagnostics(
    compose, tmp_path, monkeypatch
):
    fitted = []
    real = unimodal.fit_unimodal

    def counting(cfg, data, modality, *args, **kwargs):
        fitted.append(modality)
        return real(cfg, data, modality, *args, **kwargs)

    monkeypatch.setattr(unimodal, "fit_unimodal", counting)
    kept = {}
    real_init = unimodal.UnimodalReferences.__init__

    def keep(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        kept["refs"] = self

    monkeypatch.setattr(unimodal.UnimodalReferences, "__init__", keep)
    s = train(
        compose(
            "remedy=kd", "remedy.epochs=1", "remedy.nce_negatives=64",
            "diagnostics.extra=[semantic,polysemanticity]", run_dir=tmp_path,
        )
    )  # fmt: skip
    assert sorted(fitted) == ["m0", "m1"]  # once each, though three readers asked
    refs = kept["refs"]
    # KD ranked the modalities by the references' validation scores ...
    kd_strength = {m: refs.val_score(m) for m in ("m0", "m1")}
    assert s["unimodal_training"].keys() == {"m0", "m1"}
    weakest = min(kd_strength, key=kd_strength.get)
    # ... the semantic probe compared the same weakest modality's reference ...
    assert s["extra"]["semantic"]["modality"] == weakest
    # ... and the summary's strengths are the references' test metrics.
    assert s["unimodal"]["m0"] == refs.test_metrics("m0")


def test_references_stop_early_on_validation(compose, tmp_path):
    s = train(
        compose(
            "diagnostics.unimodal_epochs=40", "diagnostics.unimodal_patience=2",
            run_dir=tmp_path,
        )
    )  # fmt: skip
    for m, r in s["unimodal_training"].items():
        # Stopped two epochs after its best, well before the 40 it was allowed.
        assert r["epochs_run"] == r["best_epoch"] + 3 < 40, (m, r)


def test_patience_null_runs_every_epoch(compose, tmp_path):
    s = train(
        compose(
            "diagnostics.unimodal_epochs=4", "diagnostics.unimodal_patience=null",
            run_dir=tmp_path,
        )
    )  # fmt: skip
    assert all(r["epochs_run"] == 4 for r in s["unimodal_training"].values())


def _plateau_then_learn(n: int):
    """Validation scores of a reference that sits at chance (a lucky 0.12 first) until epoch
    `n`, then improves every epoch: the weak modality of synthetic_theory at noise std 16."""

    def run_epoch(epoch: int) -> tuple[dict, dict, float]:
        score = 0.12 if epoch == 0 else 0.10 if epoch < n else 0.10 + 0.01 * (epoch - n + 3)
        return {}, {}, score

    return run_epoch


def test_patience_alone_stops_a_late_learner_on_its_plateau():
    best = fit(nn.Linear(1, 1), range(40), _plateau_then_learn(15), later_ties=False, patience=10)
    assert (best.epoch, best.epochs_run) == (0, 11)  # the round-1 failure: stopped at chance


def test_warm_up_keeps_a_late_learner_until_it_improves():
    best = fit(
        nn.Linear(1, 1), range(40), _plateau_then_learn(15), later_ties=False, patience=10,
        min_epochs=20,
    )  # fmt: skip
    # Not stopped before it learns (epoch 15); still improving, so it runs every epoch.
    assert best.epochs_run == 40 and best.epoch == 39


def test_warm_up_then_patience_still_stops_a_flat_model():
    best = fit(nn.Linear(1, 1), range(40), lambda e: ({}, {}, 0.1), later_ties=False,
               patience=3, min_epochs=8)  # fmt: skip
    assert (best.epoch, best.epochs_run) == (0, 8)  # the warm-up, then patience had run out


def test_references_honour_the_warm_up(compose, tmp_path):
    s = train(
        compose(
            "diagnostics.unimodal_epochs=12", "diagnostics.unimodal_patience=1",
            "diagnostics.unimodal_min_epochs=9", run_dir=tmp_path,
        )
    )  # fmt: skip
    assert all(r["epochs_run"] >= 9 for r in s["unimodal_training"].values())


def test_negative_warm_up_is_one_line(compose, tmp_path):
    with pytest.raises(MmcError, match="unimodal_min_epochs=-1 must be >= 0"):
        train(compose("diagnostics.unimodal_min_epochs=-1", run_dir=tmp_path))
