"""The MultiBench avMNIST files as a MultimodalDataset (image 1x28x28, audio 1x112x112).

Standard loader: values divided by 255, a channel axis added, the last `val_size` training
rows (5,000 of 60,000) held out for validation, the test file as the test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mmc.data.avmnist.layout import (
    check_audio,
    check_images,
    check_labels,
    check_pixels,
    check_rows,
    load_npy,
    require_root,
    split_files,
)
from mmc.data.batch import ModalitySpec, MultimodalDataset, MultimodalTensors
from mmc.errors import ConfigError, check

AUDIO_SHAPE = (112, 112)
HINT = "the MultiBench layout is image/{split}_data.npy, audio/{split}_data.npy, {split}_labels.npy"


def to_unit_float(x: np.ndarray) -> torch.Tensor:
    """0..255 -> float32 0..1, converted in chunks so uint8 input never exists twice as float64."""
    out = torch.empty(x.shape, dtype=torch.float32)
    for start in range(0, len(x), 4096):
        out[start : start + 4096] = torch.from_numpy(np.asarray(x[start : start + 4096])).float()
    return out.div_(255.0)


def read_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    files = split_files(root, split)
    image = check_images(load_npy(files["image"], HINT), files["image"])
    audio = check_audio(
        load_npy(files["audio"], HINT), files["audio"], AUDIO_SHAPE, "spectrograms (0..255)"
    )
    check_pixels(audio, files["audio"])
    check_rows(len(image), len(audio), split, root)
    labels = check_labels(load_npy(files["labels"], HINT), files["labels"], len(image))
    return image, audio, labels


def complete(image: torch.Tensor, audio: torch.Tensor, y: np.ndarray) -> MultimodalTensors:
    n = len(y)
    return MultimodalTensors(
        x={"image": image, "audio": audio},
        mask={"image": torch.ones(n, dtype=torch.bool), "audio": torch.ones(n, dtype=torch.bool)},
        y=torch.from_numpy(y).long(),
    )


def load_avmnist(root: str | None = None, val_size: int = 5000) -> MultimodalDataset:
    """`<root>` in the MultiBench layout -> train (N - val_size) / val (val_size) / test."""
    path = require_root(root, "avmnist")
    image_tr, audio_tr, y_tr = read_split(path, "train")
    image_te, audio_te, y_te = read_split(path, "test")
    check(
        0 < val_size < len(y_tr),
        f"dataset.source.val_size={val_size} must lie in [1, {len(y_tr) - 1}] "
        f"for {len(y_tr)} training rows",
        ConfigError,
    )
    cut = len(y_tr) - val_size
    image_tr, audio_tr = to_unit_float(image_tr), to_unit_float(audio_tr)
    train = complete(image_tr[:cut], audio_tr[:cut], y_tr[:cut])
    val = complete(image_tr[cut:], audio_tr[cut:], y_tr[cut:])
    test = complete(to_unit_float(image_te), to_unit_float(audio_te), y_te)
    info = {
        "root": str(path),
        "layout": "multibench",
        "sizes": {s: len(t) for s, t in (("train", train), ("val", val), ("test", test))},
    }
    return avmnist_dataset(train, val, test, AUDIO_SHAPE, info)


def avmnist_dataset(
    train: MultimodalTensors,
    val: MultimodalTensors,
    test: MultimodalTensors,
    audio_shape: tuple[int, int],
    info: dict,
) -> MultimodalDataset:
    """The image/audio digit data set both avMNIST settings return."""
    return MultimodalDataset(
        train=train,
        val=val,
        test=test,
        specs={
            "image": ModalitySpec(shape=(1, 28, 28)),
            "audio": ModalitySpec(shape=(1, *audio_shape)),
        },
        task="multiclass",
        num_classes=10,
        # As published (image-only beats audio-only); runs still measure unimodal strength.
        info={**info, "strongest": "image", "weakest": "audio"},
    )
