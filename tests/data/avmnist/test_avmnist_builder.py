import json

import numpy as np
import pandas as pd
import pytest

from mmc.data.avmnist.builder import build_avmnist, build_avmnist_small
from mmc.data.avmnist.idx import load_mnist
from mmc.errors import ConfigError, DataError


def test_multibench_layout_shapes_dtypes_and_pairing(multibench_dir, raw_sources, sizes):
    N_TRAIN, N_TEST = sizes["train"], sizes["test"]
    meta = json.loads((multibench_dir / "meta.json").read_text())
    assert meta["sizes"] == {"train": N_TRAIN, "test": N_TEST}
    assert 0.25 <= meta["image_pca"]["energy_kept"] < 0.5
    mnist = load_mnist(raw_sources[0])
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        image = np.load(multibench_dir / "image" / f"{split}_data.npy")
        audio = np.load(multibench_dir / "audio" / f"{split}_data.npy")
        labels = np.load(multibench_dir / f"{split}_labels.npy")
        assert image.shape == (n, 784) and image.dtype == np.uint8
        assert audio.shape == (n, 112, 112) and audio.dtype == np.uint8
        np.testing.assert_array_equal(labels, mnist[split][1])  # MNIST order is kept
        pairing = pd.read_csv(multibench_dir / "pairing" / f"{split}.csv")
        digit = pairing.recording.str.split("_").str[0].astype(int)
        index = pairing.recording.str.rsplit("_", n=1).str[1].str[:-4].astype(int)
        assert (digit == labels).all()  # every image is paired with its own digit
        assert ((index < 5) == (split == "test")).all()  # FSDD's own split
        # Recordings are used evenly: counts per recording differ by at most one per digit.
        counts = pairing.groupby(["label", "recording"]).size().groupby("label")
        assert (counts.max() - counts.min() <= 1).all()
    # The PCA removes energy: images differ from the raw digits but keep their layout.
    raw = mnist["train"][0].reshape(N_TRAIN, -1).astype(float)
    built = np.load(multibench_dir / "image" / "train_data.npy").astype(float)
    assert np.abs(raw - built).mean() > 5
    assert np.corrcoef(raw.ravel(), built.ravel())[0, 1] > 0.5


def test_pairing_depends_on_the_seed(multibench_dir, raw_sources, tmp_path):
    # Same seed, same bytes: checked against the `mmc prepare` build in test_avmnist_train.py.
    other = build_avmnist(*map(str, raw_sources), root=str(tmp_path / "b"), seed=1)
    assert other["sizes"] == {"train": 200, "test": 200}
    first = pd.read_csv(multibench_dir / "pairing" / "train.csv")
    second = pd.read_csv(tmp_path / "b" / "pairing" / "train.csv")
    assert (first.label == second.label).all()
    assert (first.recording != second.recording).mean() > 0.5


def test_builder_refuses_to_overwrite_and_names_missing_inputs(multibench_dir, raw_sources):
    with pytest.raises(DataError, match="overwrite=true"):
        build_avmnist(*map(str, raw_sources), root=str(multibench_dir))
    with pytest.raises(ConfigError, match="dataset.fsdd_dir is not set"):
        build_avmnist(str(raw_sources[0]), None, root=str(multibench_dir))
    with pytest.raises(ConfigError, match="dataset.root is not set"):
        build_avmnist(*map(str, raw_sources), root=None)


def test_small_layout_pairs_each_recording_with_a_distinct_image(small_dir, raw_sources, sizes):
    PER_SPEAKER, SMALL_TEST_MAX_INDEX = sizes["per_speaker"], sizes["small_test_max_index"]
    meta = json.loads((small_dir / "meta.json").read_text())
    n_test = 3 * 10 * SMALL_TEST_MAX_INDEX
    n_train = 3 * 10 * (PER_SPEAKER - SMALL_TEST_MAX_INDEX)
    assert meta["sizes"] == {"train": n_train, "test": n_test}
    assert meta["per_digit"]["test"] == [n_test // 10] * 10
    mnist = load_mnist(raw_sources[0])
    for split in ("train", "test"):
        pairing = pd.read_csv(small_dir / "pairing" / f"{split}.csv")
        assert set(pairing.recording.str.split("_").str[1]) == {"jackson", "nicolas", "theo"}
        assert pairing.mnist_index.is_unique
        assert (mnist[split][1][pairing.mnist_index] == pairing.label).all()
        mfcc = np.load(small_dir / "audio" / f"{split}_mfcc.npy")
        assert mfcc.shape == (len(pairing), 20, 20) and mfcc.dtype == np.float32
        image = np.load(small_dir / "image" / f"{split}_data.npy")
        # No energy removed in the small setting: the MNIST pixels as they are.
        np.testing.assert_array_equal(image, mnist[split][0][pairing.mnist_index].reshape(-1, 784))


def test_small_builder_needs_enough_images(raw_sources, tmp_path):
    with pytest.raises(DataError, match="images of digit"):
        build_avmnist_small(*map(str, raw_sources), root=str(tmp_path), test_max_index=7)
