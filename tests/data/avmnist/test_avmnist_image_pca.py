import numpy as np

from mmc.data.avmnist.image_pca import remove_pca_energy


def _images(seed: int, n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(12, 64)) * np.linspace(1.5, 0.5, 12)[:, None]
    return np.clip(128 + rng.normal(size=(n, 12)) @ basis * 10, 0, 255).astype(np.uint8)


def test_keeps_the_fewest_leading_components_holding_a_quarter_of_the_energy():
    train = _images(0)
    out, _, facts = remove_pca_energy(train, [], removed=0.75)
    assert facts["energy_kept"] >= 0.25
    k = facts["components"]
    centred = train.astype(float) - train.mean(0)
    energy = np.linalg.svd(centred, compute_uv=False) ** 2
    assert energy[: k - 1].sum() / energy.sum() < 0.25  # one fewer would not be enough
    assert k > 1
    # What is left has the variance of those components (up to uint8 rounding).
    kept = ((out.astype(float) - out.mean(0)) ** 2).sum() / (centred**2).sum()
    assert abs(kept - facts["energy_kept"]) < 0.03


def test_fitted_on_training_images_only_and_zero_is_identity():
    train, test = _images(0), _images(1, 50)
    a, (t1,), _ = remove_pca_energy(train, [test])
    b, (t2,), _ = remove_pca_energy(train, [255 - test])
    np.testing.assert_array_equal(a, b)  # test images never shape the basis
    assert not np.array_equal(t1, t2)
    same, (same_test,), facts = remove_pca_energy(train, [test], removed=0.0)
    assert same is train and same_test is test and facts["energy_kept"] == 1.0
