import math

import pytest

from mmc.errors import ConfigError
from mmc.train import train

SMALL = [
    "dataset.source.n_train=400",
    "dataset.source.n_val=100",
    "dataset.source.n_test=200",
    "model.dim=16",
]


def test_every_extra_diagnostic_lands_in_the_summary(compose, tmp_path):
    cfg = compose(
        *SMALL, "dataset.source.n_modalities=3", "train.epochs=2",
        "diagnostics.extra=[cka,vif,semantic,polysemanticity,patterns]", run_dir=tmp_path,
    )  # fmt: skip
    s = train(cfg)
    extra = s["extra"]
    assert set(extra["cka"]) == {"m0", "m1", "m2"} and all(
        0 <= v <= 1 for v in extra["cka"].values()
    )
    assert extra["vif"]["modality"] >= 1.0 and extra["vif"]["feature"] >= 1.0
    sem = extra["semantic"]
    weakest = min(s["unimodal"], key=lambda m: s["unimodal"][m]["accuracy"])
    assert sem["modality"] == weakest and math.isclose(sem["gap"], sem["prefix"] - sem["unimodal"])
    assert 0 <= extra["polysemanticity"]["cross_entropy"] <= math.log(3) + 1e-9
    pats = extra["patterns"]["per_pattern"]
    assert len(pats) == 7
    # The all-modality pattern is the ordinary test metric; a masked modality is test_masked.
    assert math.isclose(pats["m0+m1+m2"]["accuracy"], s["test"]["accuracy"])
    assert math.isclose(pats["m0+m2"]["accuracy"], s["test_masked"]["m1"]["accuracy"])


def test_unknown_extra_diagnostic_is_a_config_error(compose, tmp_path):
    with pytest.raises(ConfigError, match="diagnostics.extra entry"):
        train(compose("diagnostics.extra=[rank2]", run_dir=tmp_path))
