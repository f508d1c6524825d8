"""Build the avMNIST layouts from raw sources: MNIST idx files and FSDD wav files.

Both builders are deterministic given `seed` and write the pairing they drew
(`pairing/{split}.csv`: row, label, MNIST split and index, recording file) next to the arrays,
plus `meta.json` with every parameter. `meta.json` is written last: a folder without it is
an interrupted build.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mmc.data.avmnist.audio_features import mfcc, spectrogram
from mmc.data.avmnist.fsdd import Recording, list_recordings, read_wav
from mmc.data.avmnist.idx import load_mnist
from mmc.data.avmnist.image_pca import remove_pca_energy
from mmc.data.avmnist.multibench import AUDIO_SHAPE
from mmc.data.avmnist.small import MFCC_SHAPE
from mmc.errors import ConfigError, DataError, check

SMIL_SPEAKERS = ("jackson", "nicolas", "theo")


def _out_dir(root: str | None, overwrite: bool, dataset: str) -> Path:
    check(
        root is not None and str(root) != "",
        f"dataset.root is not set; name the folder mmc prepare dataset={dataset} should write",
        ConfigError,
    )
    out = Path(str(root)).expanduser()
    check(
        overwrite or not (out / "meta.json").exists(),
        f"{out} already holds a built data set (meta.json); pass dataset.prepare.overwrite=true "
        "to rebuild it",
        DataError,
    )
    for sub in ("image", "audio", "pairing"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    return out


def _cycle(pool: list[int], n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws from pool: reshuffled full passes, so every item is used evenly."""
    passes = -(-n // len(pool))
    return np.concatenate([rng.permutation(pool) for _ in range(passes)])[:n]


def _features(recs: list[Recording], used: np.ndarray, fn: Callable) -> dict[int, np.ndarray]:
    """Features of each recording used, computed once however often it is paired."""
    threads = torch.get_num_threads()
    # One short STFT per call: thread start-up costs more than it saves (14x slower on 2 cores).
    torch.set_num_threads(1)
    try:
        return {int(i): fn(read_wav(recs[i].path)) for i in np.unique(used)}
    finally:
        torch.set_num_threads(threads)


def _pairing_frame(labels, mnist_split, mnist_index, recs, rec_index) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": np.arange(len(labels)),
            "label": labels,
            "mnist_split": mnist_split,
            "mnist_index": mnist_index,
            "recording": [recs[i].path.name for i in rec_index],
        }
    )


def _write_meta(out: Path, meta: dict) -> dict:
    (out / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
    return meta


def build_avmnist(
    mnist_dir: str | None = None,
    fsdd_dir: str | None = None,
    root: str | None = None,
    seed: int = 0,
    image_energy_removed: float = 0.75,
    test_max_index: int = 5,
    overwrite: bool = False,
) -> dict:
    """MNIST train/test (60,000 / 10,000) + FSDD -> the MultiBench layout under `root`.

    Each image is paired with a recording of the same digit: training images with recordings
    whose index is >= test_max_index, test images with the others (FSDD's own split keeps
    indices 0-4 for testing), each recording used equally often.
    """
    check(mnist_dir is not None, "dataset.mnist_dir is not set; point it at the MNIST idx files")
    check(fsdd_dir is not None, "dataset.fsdd_dir is not set; point it at the FSDD recordings")
    check(
        0.0 <= image_energy_removed < 1.0,
        f"dataset.prepare.image_energy_removed={image_energy_removed} must lie in [0, 1)",
    )
    mnist = load_mnist(mnist_dir)
    recs = list_recordings(fsdd_dir)
    out = _out_dir(root, overwrite, "avmnist")
    rng = np.random.default_rng(seed)
    spec_of: dict[int, np.ndarray] = {}
    pairs = {}
    for split in ("train", "test"):
        images, labels = mnist[split]
        rec_index = np.empty(len(labels), dtype=np.int64)
        for digit in range(10):
            rows = np.flatnonzero(labels == digit)
            pool = [
                i
                for i, r in enumerate(recs)
                if r.digit == digit and (r.index < test_max_index) == (split == "test")
            ]
            check(
                bool(pool) or not len(rows),
                f"FSDD has no {split} recording of digit {digit} (test = index < {test_max_index}); "
                "the folder is incomplete",
                DataError,
            )
            if len(rows):
                rec_index[rows] = _cycle(pool, len(rows), rng)
        spec_of.update(_features(recs, rec_index, lambda w: spectrogram(w, AUDIO_SHAPE[0])))
        pairs[split] = (images, labels, rec_index)

    train_img, test_img = (pairs[s][0].reshape(len(pairs[s][0]), -1) for s in ("train", "test"))
    train_img, (test_img,), pca = remove_pca_energy(train_img, [test_img], image_energy_removed)
    for split, flat in (("train", train_img), ("test", test_img)):
        _, labels, rec_index = pairs[split]
        np.save(out / "image" / f"{split}_data.npy", flat.astype(np.uint8))
        audio = (
            np.stack([spec_of[int(i)] for i in rec_index])
            if len(rec_index)
            else np.zeros((0, *AUDIO_SHAPE), np.uint8)
        )
        np.save(out / "audio" / f"{split}_data.npy", audio)
        np.save(out / f"{split}_labels.npy", labels.astype(np.int64))
        _pairing_frame(labels, split, np.arange(len(labels)), recs, rec_index).to_csv(
            out / "pairing" / f"{split}.csv", index=False
        )
    return _write_meta(
        out,
        {
            "layout": "multibench",
            "root": str(out),
            "seed": seed,
            "mnist_dir": str(mnist_dir),
            "fsdd_dir": str(fsdd_dir),
            "sizes": {s: int(len(pairs[s][1])) for s in pairs},
            "recordings": {
                "train": int(len(np.unique(pairs["train"][2]))),
                "test": int(len(np.unique(pairs["test"][2]))),
            },
            "test_max_index": test_max_index,
            "image_energy_removed": image_energy_removed,
            "image_pca": pca,
            "spectrogram": {"size": list(AUDIO_SHAPE), "n_fft": 2 * (AUDIO_SHAPE[0] - 1)},
            "pairing": "pairing/{train,test}.csv",
        },
    )


def build_avmnist_small(
    mnist_dir: str | None = None,
    fsdd_dir: str | None = None,
    root: str | None = None,
    seed: int = 0,
    speakers: list[str] = SMIL_SPEAKERS,
    test_max_index: int = 15,
    image_energy_removed: float = 0.0,
    overwrite: bool = False,
) -> dict:
    """SMIL's small setting: every recording of `speakers` (1,500 for the three SMIL speakers)
    paired with a distinct MNIST image of the same digit; recordings with index <
    test_max_index form the test split (450) and take MNIST test images, the rest (1,050)
    take MNIST training images. Audio: 20 x 20 MFCC.
    """
    check(mnist_dir is not None, "dataset.mnist_dir is not set; point it at the MNIST idx files")
    check(fsdd_dir is not None, "dataset.fsdd_dir is not set; point it at the FSDD recordings")
    check(
        0.0 <= image_energy_removed < 1.0,
        f"dataset.prepare.image_energy_removed={image_energy_removed} must lie in [0, 1)",
    )
    mnist = load_mnist(mnist_dir)
    recs = list_recordings(fsdd_dir, list(speakers))
    out = _out_dir(root, overwrite, "avmnist_small")
    rng = np.random.default_rng(seed)
    chosen = {}
    for split in ("train", "test"):
        images, labels = mnist[split]
        rec_index = np.array(
            [i for i, r in enumerate(recs) if (r.index < test_max_index) == (split == "test")],
            dtype=np.int64,
        )
        check(len(rec_index) > 0, f"no {split} recordings for speakers {list(speakers)}", DataError)
        digits = np.array([recs[i].digit for i in rec_index])
        mnist_index = np.empty(len(rec_index), dtype=np.int64)
        for digit in range(10):
            slots = np.flatnonzero(digits == digit)
            candidates = np.flatnonzero(labels == digit)
            check(
                len(candidates) >= len(slots),
                f"MNIST {split} has {len(candidates)} images of digit {digit} for "
                f"{len(slots)} recordings",
                DataError,
            )
            mnist_index[slots] = rng.choice(candidates, size=len(slots), replace=False)
        chosen[split] = (
            images[mnist_index].reshape(len(mnist_index), -1),
            digits,
            mnist_index,
            rec_index,
        )

    train_img, (test_img,), pca = remove_pca_energy(
        chosen["train"][0], [chosen["test"][0]], image_energy_removed
    )
    images = {"train": train_img, "test": test_img}
    for split, (_, digits, mnist_index, rec_index) in chosen.items():
        mfcc_of = _features(recs, rec_index, lambda w: mfcc(w, *MFCC_SHAPE))
        feats = np.stack([mfcc_of[int(i)] for i in rec_index])
        np.save(out / "image" / f"{split}_data.npy", images[split].astype(np.uint8))
        np.save(out / "audio" / f"{split}_mfcc.npy", feats.astype(np.float32))
        np.save(out / f"{split}_labels.npy", digits.astype(np.int64))
        _pairing_frame(digits, split, mnist_index, recs, rec_index).to_csv(
            out / "pairing" / f"{split}.csv", index=False
        )
    return _write_meta(
        out,
        {
            "layout": "smil-small",
            "root": str(out),
            "seed": seed,
            "mnist_dir": str(mnist_dir),
            "fsdd_dir": str(fsdd_dir),
            "speakers": list(speakers),
            "sizes": {s: int(len(chosen[s][1])) for s in chosen},
            "per_digit": {s: np.bincount(chosen[s][1], minlength=10).tolist() for s in chosen},
            "test_max_index": test_max_index,
            "image_energy_removed": image_energy_removed,
            "image_pca": pca,
            "mfcc": {
                "n_mfcc": MFCC_SHAPE[0],
                "n_frames": MFCC_SHAPE[1],
                "n_fft": 256,
                "n_mels": 40,
            },
            "pairing": "pairing/{train,test}.csv",
        },
    )
