import gzip

import numpy as np
import pytest

from mmc.data.avmnist.idx import find_idx, load_mnist, read_idx, write_idx
from mmc.errors import DataError


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    write_idx(tmp_path / name, x)
    np.testing.assert_array_equal(read_idx(tmp_path / name), x)


def test_truncated_and_foreign_files_are_data_errors(tmp_path):
    write_idx(tmp_path / "x-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
    raw = (tmp_path / "x-idx3-ubyte").read_bytes()
    (tmp_path / "cut").write_bytes(raw[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "cut")
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n" + raw)
    with pytest.raises(DataError, match="idx header"):
        read_idx(tmp_path / "png")
    with gzip.open(tmp_path / "bad.gz", "wb") as f:
        f.write(b"\x00\x00")
    with pytest.raises(DataError):
        read_idx(tmp_path / "bad.gz")


def test_finds_dotted_spelling_and_names_missing_file(tmp_path):
    write_idx(tmp_path / "t10k-images.idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    assert find_idx(tmp_path, "test", "images").name == "t10k-images.idx3-ubyte"
    with pytest.raises(DataError, match="train images not found"):
        load_mnist(tmp_path)


def test_load_mnist_checks_label_count(tmp_path):
    for stem, n in (("train", 3), ("t10k", 2)):
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte", np.zeros(n + 1, np.uint8))
    with pytest.raises(DataError, match="4 labels for 3 images"):
        load_mnist(tmp_path)
