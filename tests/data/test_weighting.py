import pytest
import torch

from mmc.data.build import build_dataset
from mmc.errors import ConfigError


def test_modality_weight_scales_only_the_weighted_modality(compose):
    base = build_dataset(compose())
    up = build_dataset(compose("data.modality_weight=3.0"))  # weighted_modality=weakest (m1)
    assert up.info["weighted_modality"] == {"modality": "m1", "beta": 3.0}
    for split in ("train", "test"):
        a, b = getattr(base, split), getattr(up, split)
        assert torch.allclose(b.x["m1"], 3.0 * a.x["m1"]) and torch.equal(b.x["m0"], a.x["m0"])


def test_nonpositive_modality_weight_is_rejected(compose, tmp_path):
    from mmc.train import train

    with pytest.raises(ConfigError, match="modality_weight"):
        train(compose("data.modality_weight=0", run_dir=tmp_path))
