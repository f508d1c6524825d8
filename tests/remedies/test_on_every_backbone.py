"""KD and EBR touch only encoders / the adapter, so they must run on top of every backbone."""

import pytest

from mmc.train import train
from tests.options import BACKBONE
from tests.options import REMEDY as SETTINGS
from tests.remedies.conftest import SMALL

REMEDY = {
    "kd": ["remedy=kd", *SETTINGS["kd"]],
    "ebr": ["remedy=ebr", *SETTINGS["ebr"], "substitution=ebr"],
}


@pytest.mark.parametrize("remedy", sorted(REMEDY))
@pytest.mark.parametrize("backbone", sorted(BACKBONE))
def test_remedy_runs_on_backbone(compose, tmp_path, backbone, remedy):
    cfg = compose(
        f"backbone={backbone}", *SMALL, *REMEDY[remedy], "data.missing_rate=0.3",
        "train.epochs=1", "diagnostics.unimodal=false", run_dir=tmp_path,
    )  # fmt: skip
    s = train(cfg)
    assert s["status"] == "completed" and set(s["test_masked"]) == {"m0", "m1"}
