"""The on-disk avMNIST layouts and the checks that turn a bad file into one clear line.

MultiBench: `<root>/image/{split}_data.npy` (N x 784, 0..255), `<root>/audio/{split}_data.npy`
(N x 112 x 112, 0..255), `<root>/{split}_labels.npy`. The small (SMIL) setting keeps the
same image and label files and stores MFCC audio as `<root>/audio/{split}_mfcc.npy`
(N x 20 x 20 float).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmc.errors import ConfigError, DataError, check

SPLITS = ("train", "test")
IMAGE_SIDE = 28


def split_files(root: Path, split: str, audio_name: str = "data") -> dict[str, Path]:
    return {
        "image": root / "image" / f"{split}_data.npy",
        "audio": root / "audio" / f"{split}_{audio_name}.npy",
        "labels": root / f"{split}_labels.npy",
    }


def require_root(root: str | Path | None, dataset: str) -> Path:
    check(
        root is not None and str(root) != "",
        f"dataset.root is not set; point it at an {dataset} folder "
        f"(build one with: mmc prepare dataset={dataset} dataset.root=<out> "
        "dataset.mnist_dir=<mnist idx folder> dataset.fsdd_dir=<fsdd recordings>)",
        ConfigError,
    )
    path = Path(str(root)).expanduser()
    check(path.is_dir(), f"dataset.root={path} does not exist or is not a folder", DataError)
    return path


def load_npy(path: Path, hint: str) -> np.ndarray:
    check(path.is_file(), f"{path} not found; {hint}", DataError)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{path} is not a readable .npy array ({e}); {hint}") from None


def check_pixels(x: np.ndarray, path: Path) -> None:
    """0..255 values, numeric, finite; rejects arrays already divided by 255."""
    check(
        x.dtype.kind in "uif",
        f"{path} has dtype {x.dtype}; expected uint8 or float values 0..255",
        DataError,
    )
    if x.dtype == np.uint8 or x.size == 0:
        return
    check(bool(np.isfinite(x).all()), f"{path} holds NaN/inf values; rebuild the file", DataError)
    lo, hi = float(x.min()), float(x.max())
    check(
        lo >= 0 and hi <= 255,
        f"{path} has values in [{lo:g}, {hi:g}]; expected 0..255 (the loader divides by 255)",
        DataError,
    )
    check(
        hi > 1.0,
        f"{path} has values in [{lo:g}, {hi:g}]: it looks already divided by 255; "
        "store 0..255 values (multiply by 255)",
        DataError,
    )


def check_images(x: np.ndarray, path: Path) -> np.ndarray:
    """N x 784 (or N x 28 x 28, N x 1 x 28 x 28) -> N x 1 x 28 x 28."""
    side = IMAGE_SIDE
    ok = x.ndim >= 2 and x.shape[1:] in ((side * side,), (side, side), (1, side, side))
    check(
        ok,
        f"{path} has shape {x.shape}; expected (N, {side * side}) flattened 28x28 MNIST images",
        DataError,
    )
    check_pixels(x, path)
    return x.reshape(len(x), 1, side, side)


def check_audio(x: np.ndarray, path: Path, shape: tuple[int, int], what: str) -> np.ndarray:
    """N x H x W (or N x 1 x H x W) -> N x 1 x H x W."""
    ok = x.ndim >= 3 and (x.shape[1:] == shape or x.shape[1:] == (1, *shape))
    check(
        ok,
        f"{path} has shape {x.shape}; expected (N, {shape[0]}, {shape[1]}) {what}",
        DataError,
    )
    return x.reshape(len(x), 1, *shape)


def check_labels(y: np.ndarray, path: Path, n: int, num_classes: int = 10) -> np.ndarray:
    y = np.asarray(y).reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    check(y.ndim == 1, f"{path} has shape {y.shape}; expected ({n},) digit labels", DataError)
    check(
        len(y) == n,
        f"{path} holds {len(y)} labels for {n} samples; image, audio and labels must align",
        DataError,
    )
    check(y.dtype.kind in "uif", f"{path} has dtype {y.dtype}; expected integer labels", DataError)
    if y.dtype.kind == "f":
        check(
            bool(np.isfinite(y).all()) and bool((y == np.round(y)).all()),
            f"{path} holds non-integer labels",
            DataError,
        )
    y = y.astype(np.int64)
    check(
        n == 0 or (int(y.min()) >= 0 and int(y.max()) < num_classes),
        f"{path} has labels outside 0..{num_classes - 1}",
        DataError,
    )
    return y


def check_rows(n_image: int, n_audio: int, split: str, root: Path) -> None:
    check(
        n_image == n_audio,
        f"{root}: {split} has {n_image} images but {n_audio} audio rows; they must pair up",
        DataError,
    )
