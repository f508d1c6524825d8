"""KD and EBR touch only encoders / the adapter, so they must run on top of every backbone."""

from pathlib import Path

import pytest

from mmc.train import train
from tests.remedies.conftest import SMALL, SMALL_EBR

BACKBONES = sorted(p.stem for p in (Path(__file__).parents[2] / "conf" / "backbone").glob("*.yaml"))
REMEDY = {
    "kd": [
        "remedy=kd",
        "remedy.epochs=1",
        "diagnostics.unimodal_epochs=1",
        "remedy.nce_negatives=32",
    ],
    "ebr": ["remedy=ebr", *SMALL_EBR, "substitution=ebr"],
}


@pytest.mark.parametrize("remedy", sorted(REMEDY))
@pytest.mark.parametrize("backbone", BACKBONES)
def test_remedy_runs_on_backbone(compose, tmp_path, backbone, remedy):
    cfg = compose(
        f"backbone={backbone}", *SMALL, *REMEDY[remedy], "data.missing_rate=0.3",
        "train.epochs=1", "diagnostics.unimodal=false", run_dir=tmp_path,
    )  # fmt: skip
    s = train(cfg)
    assert s["status"] == "completed" and set(s["test_masked"]) == {"m0", "m1"}
