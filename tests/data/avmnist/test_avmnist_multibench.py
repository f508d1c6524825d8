import shutil

import numpy as np
import pytest
import torch

from mmc.data.avmnist.multibench import load_avmnist
from mmc.errors import ConfigError, DataError

N_TRAIN, N_TEST = 200, 200  # as generated in conftest.py


def test_standard_loader_split_scaling_and_shapes(multibench_dir):
    data = load_avmnist(str(multibench_dir), val_size=50)
    assert (len(data.train), len(data.val), len(data.test)) == (N_TRAIN - 50, 50, N_TEST)
    assert data.specs["image"].shape == (1, 28, 28) and data.specs["audio"].shape == (1, 112, 112)
    assert data.task == "multiclass" and data.num_classes == 10
    raw = np.load(multibench_dir / "audio" / "train_data.npy")
    # Validation = the last training rows, values divided by 255.
    expected = torch.from_numpy(raw[-50:]).float().unsqueeze(1) / 255
    torch.testing.assert_close(data.val.x["audio"], expected)
    assert all(bool(m.all()) for s in data.splits().values() for m in s.mask.values())


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_wrong_audio_shape_is_one_line(multibench_dir, tmp_path):
    root = _copy(multibench_dir, tmp_path / "d")
    np.save(root / "audio" / "train_data.npy", np.zeros((N_TRAIN, 128, 128), np.uint8))
    with pytest.raises(DataError, match=r"shape \(200, 128, 128\); expected \(N, 112, 112\)"):
        load_avmnist(str(root))


@pytest.mark.parametrize(
    "rel, array, message",
    [
        ("image/test_data.npy", np.zeros((N_TEST, 28, 27)), "flattened 28x28"),
        ("image/train_data.npy", np.full((N_TRAIN, 784), 0.5), "already divided by 255"),
        ("image/train_data.npy", np.full((N_TRAIN, 784), np.nan), "NaN"),
        ("audio/test_data.npy", np.zeros((N_TEST - 1, 112, 112), np.uint8), "must pair up"),
        ("test_labels.npy", np.full(N_TEST, 10), "outside 0..9"),
        ("train_labels.npy", np.zeros(3), "3 labels for 200 samples"),
        ("audio/train_data.npy", np.zeros((N_TRAIN, 112, 112), bool), "dtype"),
    ],
)
def test_bad_files_raise_data_errors(multibench_dir, tmp_path, rel, array, message):
    root = _copy(multibench_dir, tmp_path / "d")
    np.save(root / rel, array)
    with pytest.raises(DataError, match=message):
        load_avmnist(str(root), val_size=10)


def test_missing_root_and_files(multibench_dir, tmp_path):
    with pytest.raises(ConfigError, match="dataset.root is not set"):
        load_avmnist(None)
    root = _copy(multibench_dir, tmp_path / "d")
    (root / "train_labels.npy").unlink()
    with pytest.raises(DataError, match="train_labels.npy not found"):
        load_avmnist(str(root))
    with pytest.raises(ConfigError, match="val_size"):
        load_avmnist(str(multibench_dir), val_size=N_TRAIN)
