import numpy as np
import pytest
import torch

from mmc.data.synthetic import make_synthetic
from mmc.errors import ConfigError


def test_shapes_labels_and_declared_strength_order():
    d = make_synthetic(n_modalities=4, n_train=100, n_val=20, n_test=30, strengths=[3.0, 0.5])
    assert d.modalities == ["m0", "m1", "m2", "m3"]
    assert d.train.x["m2"].shape == (100, 32) and len(d.test) == 30
    assert d.info["strongest"] == "m0" and d.info["weakest"] == "m3"
    assert np.allclose(list(d.info["strengths"].values()), np.linspace(3.0, 0.5, 4))


def test_same_seed_same_data_and_splits_share_the_structure():
    a, b = make_synthetic(n_train=50, seed=1), make_synthetic(n_train=50, seed=1)
    assert torch.equal(a.train.x["m0"], b.train.x["m0"])
    assert not torch.equal(a.train.x["m0"][:20], a.test.x["m0"][:20])


def _class_means_distinct(x, y, classes):
    means = torch.stack([x[y == c].mean(0) for c in range(classes)])
    return torch.cdist(means, means)


def test_complementarity_merges_classes_within_each_modality():
    full = make_synthetic(n_train=4000, complementarity=1.0, predictive_noise=[0.01, 0.01],
                          noise_std=[0.01, 0.01], strengths=[3.0, 3.0])  # fmt: skip
    assert full.info["class_groups_per_modality"] == 2
    # Only two distinct class means per modality: the label needs both modalities.
    dist = _class_means_distinct(full.train.x["m0"], full.train.y, 10)
    distinct = {tuple(row.tolist()) for row in (dist < 0.5).int()}
    assert len(distinct) == 2


def test_wrong_list_length_is_a_config_error():
    with pytest.raises(ConfigError, match="strengths has 3 values for 4 modalities"):
        make_synthetic(n_modalities=4, strengths=[1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="n_modalities=6"):
        make_synthetic(n_modalities=6)
