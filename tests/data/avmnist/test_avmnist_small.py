import numpy as np
import pytest
import torch

from mmc.data.avmnist.small import load_avmnist_small
from mmc.errors import ConfigError


def test_exactly_the_requested_share_of_training_audio_is_gone(small_dir):
    data = load_avmnist_small(str(small_dir), audio_missing=0.9, seed=3, val_size=20)
    n = len(data.train)
    observed = data.train.mask["audio"]
    assert int((~observed).sum()) == round(0.9 * n) == data.info["train_audio_missing_count"]
    assert bool(data.train.mask["image"].all())
    assert bool(data.val.mask["audio"].all()) and bool(data.test.mask["audio"].all())
    # Missing audio is erased, not only masked.
    assert float(data.train.x["audio"][~observed].abs().max()) == 0.0
    # Standardised with observed training audio: those rows have zero mean per coefficient.
    per_coef = data.train.x["audio"][observed].mean(dim=(0, 1, 3))
    assert float(per_coef.abs().max()) < 1e-4


def test_selection_is_reproducible_and_seeded(small_dir):
    a = load_avmnist_small(str(small_dir), audio_missing=0.8, seed=0, val_size=20)
    b = load_avmnist_small(str(small_dir), audio_missing=0.8, seed=0, val_size=20)
    c = load_avmnist_small(str(small_dir), audio_missing=0.8, seed=1, val_size=20)
    assert torch.equal(a.train.mask["audio"], b.train.mask["audio"])
    assert torch.equal(a.train.y, b.train.y)
    assert not torch.equal(a.train.mask["audio"], c.train.mask["audio"])


def test_validation_is_stratified_and_disjoint(small_dir):
    data = load_avmnist_small(str(small_dir), audio_missing=0.0, val_size=30)
    assert np.bincount(data.val.y.numpy(), minlength=10).tolist() == [3] * 10
    assert len(data.train) + len(data.val) == len(np.load(small_dir / "train_labels.npy"))
    as_test = load_avmnist_small(str(small_dir), audio_missing=0.0, val_size=0)
    assert as_test.val is as_test.test and as_test.info["val_is_test"]


def test_refuses_to_mask_audio_twice(small_dir):
    with pytest.raises(ConfigError, match="second time"):
        load_avmnist_small(str(small_dir), data_missing={"rate": 0.5, "modalities": None})
    # Masking images on top is a different experiment and allowed.
    data = load_avmnist_small(
        str(small_dir), data_missing={"rate": 0.5, "modalities": ["image"]}, val_size=20
    )
    assert len(data.train) > 0
    with pytest.raises(ConfigError, match="audio_missing"):
        load_avmnist_small(str(small_dir), audio_missing=1.5)
