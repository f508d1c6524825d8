import numpy as np
import pytest
import torch

from mmc.data.synthetic_theory import make_theory_synthetic
from mmc.errors import ConfigError


def _class_means(data, m):
    x, y = data.train.x[m].numpy(), data.train.y.numpy()
    return np.stack([x[y == c].mean(axis=0) for c in range(data.num_classes)])


def test_modality_i_is_the_same_distribution_for_every_m():
    # Prototypes and mixing of m0 depend on (seed, 0) only: adding modalities changes
    # nothing about it (class means agree up to sampling noise).
    small = make_theory_synthetic(n_modalities=2, n_train=20000, seed=3)
    large = make_theory_synthetic(n_modalities=4, n_train=20000, seed=3)
    diff = np.abs(_class_means(small, "m0") - _class_means(large, "m0")).max()
    assert diff < 0.15
    assert large.info["weakest"] == "m3" and small.info["weakest"] == "m1"


def test_beta_scales_only_the_eliminated_modalitys_predictive_factors():
    lo = make_theory_synthetic(beta=0.0, weak_noise_std=1.0, n_train=4000, seed=1)
    hi = make_theory_synthetic(beta=2.0, weak_noise_std=1.0, n_train=4000, seed=1)
    # beta = 0: the eliminated modality carries no label information at all.
    assert np.abs(_class_means(lo, "m1")).max() < 0.3
    assert np.abs(_class_means(hi, "m1")).max() > 1.0
    np.testing.assert_allclose(_class_means(lo, "m0"), _class_means(hi, "m0"), atol=0.2)


def test_eliminated_modality_has_high_variance_noise():
    d = make_theory_synthetic(seed=0)
    assert d.train.x["m1"].var() > 10 * d.train.x["m0"].var()
    assert torch.isfinite(d.train.x["m1"]).all()


def test_bad_groups_is_a_config_error():
    with pytest.raises(ConfigError, match="groups"):
        make_theory_synthetic(groups=1)
