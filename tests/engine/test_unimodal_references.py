"""Unimodal references: trained once per run, shared by the summary, KD and the diagnostics,
stopped early on validation."""

from __future__ import annotations

import mmc.engine.unimodal as unimodal
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
