"""MNIST idx files (`train-images-idx3-ubyte[.gz]` etc.): read and write."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from mmc.errors import DataError, check

# idx magic: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions.
_UBYTE = 0x08
SPLIT_STEMS = {"train": "train", "test": "t10k"}


def find_idx(folder: Path, split: str, kind: str) -> Path:
    """The idx file of one split ("train"/"test") and kind ("images"/"labels") in `folder`.

    Accepts the usual spellings: `train-images-idx3-ubyte`, `train-images.idx3-ubyte`, with or
    without `.gz`.
    """
    stem, ndim = SPLIT_STEMS[split], 3 if kind == "images" else 1
    names = [f"{stem}-{kind}{sep}idx{ndim}-ubyte{gz}" for sep in ("-", ".") for gz in ("", ".gz")]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise DataError(
        f"MNIST {split} {kind} not found in {folder}: expected {names[1]} (or without .gz); "
        "point dataset.mnist_dir at the folder holding the four MNIST idx files"
    )


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path} cannot be read as an idx file ({e}); download it again") from None
    check(len(raw) >= 4, f"{path} is too short to be an idx file; download it again", DataError)
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    check(
        zero == 0 and dtype == _UBYTE and ndim >= 1,
        f"{path} has no unsigned-byte idx header (magic {raw[:4].hex()}); is it an MNIST idx file?",
        DataError,
    )
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    check(
        body.size == int(np.prod(dims)),
        f"{path} holds {body.size} bytes of data but its header says {dims}; the file is truncated",
        DataError,
    )
    return body.reshape(dims)


def write_idx(path: Path, array: np.ndarray) -> None:
    """uint8 array -> idx file (gzip if the name ends in .gz); used to make test fixtures."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, _UBYTE, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def load_mnist(folder: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (images [N,28,28] uint8, labels [N] uint8), "test": (...)}."""
    folder = Path(folder)
    check(
        folder.is_dir(), f"MNIST folder {folder} does not exist; set dataset.mnist_dir", DataError
    )
    out = {}
    for split in SPLIT_STEMS:
        images = read_idx(find_idx(folder, split, "images"))
        labels = read_idx(find_idx(folder, split, "labels"))
        check(
            images.ndim == 3 and images.shape[1:] == (28, 28),
            f"MNIST {split} images have shape {images.shape}; expected (N, 28, 28)",
            DataError,
        )
        check(
            labels.ndim == 1 and len(labels) == len(images),
            f"MNIST {split}: {len(labels)} labels for {len(images)} images",
            DataError,
        )
        check(
            int(labels.max(initial=0)) <= 9,
            f"MNIST {split} labels exceed 9",
            DataError,
        )
        out[split] = (images, labels)
    return out
