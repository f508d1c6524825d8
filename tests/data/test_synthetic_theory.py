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


def test_structure_seed_keeps_the_distribution_across_run_seeds():
    # Same structure seed, different run seeds: the class means (prototypes through the
    # mixing) agree up to sampling noise, the samples themselves differ.
    a = make_theory_synthetic(seed=1, structure_seed=5, n_train=20000)
    b = make_theory_synthetic(seed=2, structure_seed=5, n_train=20000)
    assert np.abs(_class_means(a, "m0") - _class_means(b, "m0")).max() < 0.15
    assert not torch.equal(a.train.x["m0"], b.train.x["m0"])
    # null structure seed follows the run seed: a different distribution per seed
    c = make_theory_synthetic(seed=1, n_train=20000)
    d = make_theory_synthetic(seed=2, n_train=20000)
    assert np.abs(_class_means(c, "m0") - _class_means(d, "m0")).max() > 0.5
    assert a.info["structure_seed"] == 5 and c.info["structure_seed"] == 1


def test_sample_seed_fixes_the_samples():
    a = make_theory_synthetic(seed=1, structure_seed=5, sample_seed=7)
    b = make_theory_synthetic(seed=2, structure_seed=5, sample_seed=7)
    for split in ("train", "val", "test"):
        sa, sb = getattr(a, split), getattr(b, split)
        assert torch.equal(sa.y, sb.y)
        assert all(torch.equal(sa.x[m], sb.x[m]) for m in sa.x)
    # default: the samples follow the run seed
    assert make_theory_synthetic(seed=3).info["sample_seed"] == 3


def test_factors_read_the_latent_factors_back():
    # x = f @ Q.T with Q orthogonal: x @ dirs recovers the predictive factors (class means
    # far apart) and the noisy ones (label-independent, weak_noise_std on the last modality).
    d = make_theory_synthetic(seed=0, n_train=20000, weak_noise_std=8.0)
    f = d.factors["m1"]
    assert f["predictive"].shape == (32, 4) and f["noisy"].shape == (32, 28)
    noisy = d.train.x["m1"] @ f["noisy"]
    assert abs(float(noisy.std()) - 8.0) < 0.2
    pred = (d.train.x["m0"] @ d.factors["m0"]["predictive"]).numpy()
    y = d.train.y.numpy()
    means = np.stack([pred[y == c].mean(0) for c in range(10)])
    assert np.abs(means).max() > 1.0
    x_back = torch.cat([d.train.x["m0"] @ d.factors["m0"][k] for k in ("predictive", "noisy")], 1)
    np.testing.assert_allclose(x_back.norm(dim=1), d.train.x["m0"].norm(dim=1), rtol=1e-4)
