"""SMIL/ShaSpec's small avMNIST setting: 1,500 pairs, 20x20 MFCC audio, audio mostly missing.

Missing audio is selected here rather than by the top-level `data.missing_rate` knob: exactly
round(audio_missing * N) training samples lose their audio, chosen by `seed`, so that a
setting such as "95% of training audio missing" means the same samples in every run and
every backbone. Their audio values are zeroed, not just masked, so nothing can read them.
Validation and test keep all audio (the paper's protocol).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mmc.data.avmnist.layout import (
    check_audio,
    check_images,
    check_labels,
    check_rows,
    load_npy,
    require_root,
    split_files,
)
from mmc.data.avmnist.multibench import avmnist_dataset, complete, to_unit_float
from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.errors import ConfigError, DataError, check

MFCC_SHAPE = (20, 20)
HINT = (
    "the small layout is image/{split}_data.npy, audio/{split}_mfcc.npy, {split}_labels.npy "
    "(build it with mmc prepare dataset=avmnist_small ...)"
)


def read_small_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    files = split_files(root, split, audio_name="mfcc")
    image = check_images(load_npy(files["image"], HINT), files["image"])
    audio = load_npy(files["audio"], HINT)
    audio = check_audio(audio, files["audio"], MFCC_SHAPE, "MFCC features (coefficients x frames)")
    check(
        audio.dtype.kind == "f" and bool(np.isfinite(audio).all()),
        f"{files['audio']} must hold finite float MFCCs (dtype {audio.dtype})",
        DataError,
    )
    check_rows(len(image), len(audio), split, root)
    labels = check_labels(load_npy(files["labels"], HINT), files["labels"], len(image))
    return image, audio.astype(np.float32), labels


def stratified_holdout(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` row indices, spread over the classes in proportion to their counts."""
    order = rng.permutation(len(y))
    # Interleaving the classes round-robin, each in random order, then cutting, keeps the
    # held-out set balanced without rounding puzzles.
    rank = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        rows = order[y[order] == c]
        rank[rows] = np.arange(len(rows))
    interleaved = order[np.lexsort((y[order], rank[order]))]
    return np.sort(interleaved[:size])


def standardise(audio: dict[str, torch.Tensor], train_observed: torch.Tensor) -> dict:
    """Per-coefficient z-scores with statistics from observed training audio only."""
    ref = audio["train"][train_observed]
    if len(ref) < 2:
        return audio
    mean = ref.mean(dim=(0, 1, 3), keepdim=True)
    std = ref.std(dim=(0, 1, 3), keepdim=True).clamp_min(1e-6)
    return {s: (a - mean) / std for s, a in audio.items()}


def load_avmnist_small(
    root: str | None = None,
    audio_missing: float = 0.95,
    seed: int = 0,
    val_size: int = 150,
    data_missing: dict | None = None,
) -> MultimodalDataset:
    """`<root>` in the small layout -> train / val (held out of train) / test.

    val_size = 0 uses the test split for model selection, as SMIL's code does; the run's
    data info then says so.
    `data_missing` receives the top-level data.missing_rate/missing_modalities (the YAML
    interpolates them) only to refuse masking the audio twice.
    """
    check(
        0.0 <= audio_missing <= 1.0,
        f"dataset.source.audio_missing={audio_missing} must lie in [0, 1] (e.g. 0.95)",
    )
    _refuse_double_masking(audio_missing, data_missing or {})
    path = require_root(root, "avmnist_small")
    image_tr, audio_tr, y_tr = read_small_split(path, "train")
    image_te, audio_te, y_te = read_small_split(path, "test")
    check(
        0 <= val_size < len(y_tr),
        f"dataset.source.val_size={val_size} must lie in [0, {len(y_tr) - 1}]",
        ConfigError,
    )
    rng = np.random.default_rng(seed)
    held = stratified_holdout(y_tr, val_size, rng)
    keep = np.setdiff1d(np.arange(len(y_tr)), held)
    n_train = len(keep)
    n_missing = int(round(audio_missing * n_train))
    missing = np.zeros(n_train, dtype=bool)
    missing[rng.permutation(n_train)[:n_missing]] = True

    audio = {
        "train": torch.from_numpy(audio_tr[keep]),
        "val": torch.from_numpy(audio_tr[held]),
        "test": torch.from_numpy(audio_te),
    }
    observed = torch.from_numpy(~missing)
    audio = standardise(audio, observed)
    audio["train"][~observed] = 0.0
    images = to_unit_float(image_tr)
    train = complete(images[keep], audio["train"], y_tr[keep])
    train = MultimodalTensors(
        train.x, {"image": train.mask["image"], "audio": observed}, train.y, train.labelled
    )
    test = complete(to_unit_float(image_te), audio["test"], y_te)
    val = complete(images[held], audio["val"], y_tr[held]) if val_size else test
    info = {
        "root": str(path),
        "layout": "smil-small",
        "sizes": {"train": n_train, "val": len(val), "test": len(test)},
        "audio_missing": audio_missing,
        "train_audio_missing_count": n_missing,
        "selection_seed": seed,
        "val_is_test": val_size == 0,
    }
    return avmnist_dataset(train, val, test, MFCC_SHAPE, info)


def _refuse_double_masking(audio_missing: float, data_missing: dict) -> None:
    rate = float(data_missing.get("rate") or 0.0)
    modalities = data_missing.get("modalities")
    audio_targeted = modalities is None or "audio" in modalities
    check(
        not (audio_missing > 0 and rate > 0 and audio_targeted),
        f"avmnist_small already drops audio itself (dataset.source.audio_missing={audio_missing}); "
        f"data.missing_rate={rate} would mask it a second time: set one of them to 0, "
        "or data.missing_modalities=[image]",
    )
