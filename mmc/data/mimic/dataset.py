"""`dataset=mimic`: the cached MIMIC-IV preparation as a MultimodalDataset (built when absent).

Unlabelled admissions (no evidence for the task's label) stay in the training split with
`labelled=False`, for methods with unsupervised terms (MUSE+); they are dropped from val/test,
where they could not be scored. `unlabelled=drop` removes them everywhere.
"""

from __future__ import annotations

import difflib
import inspect
import logging

import numpy as np
import torch

from mmc.data.batch import ModalitySpec, MultimodalDataset, MultimodalTensors
from mmc.data.mimic import cache
from mmc.data.mimic.labels import TASKS, UNLABELLED, label_counts
from mmc.data.mimic.patterns import pattern_counts
from mmc.data.mimic.prepare import CODE_MODALITIES, MODALITIES, prepare_mimic
from mmc.data.mimic.split import SPLITS
from mmc.errors import ConfigError, choices_error

log = logging.getLogger("mmc")
UNLABELLED_MODES = ("train", "drop")


def _prepare_options(options: dict) -> None:
    valid = [p for p in inspect.signature(prepare_mimic).parameters]
    for k in options:
        if k not in valid:
            close = difflib.get_close_matches(k, valid, n=1)
            hint = (
                f"did you mean dataset.source.{close[0]}?"
                if close
                else f"valid keys: {', '.join(valid)}"
            )
            raise ConfigError(f"dataset.source.{k} is not an option of dataset=mimic; {hint}")


def load_mimic(
    task: str = "mortality",
    modalities: list[str] | None = None,
    unlabelled: str = "train",
    **options,
) -> MultimodalDataset:
    """`options` are prepare_mimic's (root, note_root, cache_dir, split_by, ...)."""
    if task not in TASKS:
        raise choices_error("dataset.task", task, TASKS)
    if unlabelled not in UNLABELLED_MODES:
        raise choices_error("dataset.unlabelled", unlabelled, UNLABELLED_MODES)
    chosen = list(modalities or MODALITIES)
    for m in chosen:
        if m not in MODALITIES:
            raise choices_error("dataset.modalities entry", m, MODALITIES)
    _prepare_options(options)
    summary = prepare_mimic(**options)
    entry = cache.cache_root(options.get("cache_dir")) / summary["cache_key"]

    if "notes" in chosen and summary["modalities"]["notes"]["observed"] == 0:
        log.warning(
            "MIMIC-IV notes: %s; the notes modality is missing for every admission "
            "(set dataset.note_root to the MIMIC-IV-Note folder, or drop it from dataset.modalities)",
            "no dataset.note_root given"
            if summary["details"]["notes"]["status"].startswith("absent")
            else "no discharge note matched the cohort",
        )

    meta = np.load(entry / "cohort.npz")
    split, y_all = meta["split"], meta[task].astype(np.int64)
    labelled_all = y_all != UNLABELLED
    masks = np.load(entry / "masks.npz")
    vocab_sizes = {m: summary["details"][m].get("vocab_size") for m in CODE_MODALITIES}
    arrays = {m: np.load(entry / f"{m}.npy", mmap_mode="r") for m in chosen}

    def make(code: int) -> MultimodalTensors:
        rows = split == code
        rows &= labelled_all | (code == 0 and unlabelled == "train")
        idx = np.flatnonzero(rows)
        x = {}
        for m in chosen:
            a = np.asarray(arrays[m][idx])
            x[m] = torch.from_numpy(
                a.astype(np.int64) if a.dtype.kind == "i" else a.astype(np.float32)
            )
        return MultimodalTensors(
            x=x,
            mask={m: torch.from_numpy(masks[m][idx].copy()) for m in chosen},
            y=torch.from_numpy(np.where(labelled_all[idx], y_all[idx], 0)),
            labelled=torch.from_numpy(labelled_all[idx].copy()),
        )

    splits = {name: make(code) for code, name in enumerate(SPLITS)}
    specs = {}
    for m in chosen:
        a = arrays[m]
        if a.dtype.kind == "i":
            specs[m] = ModalitySpec(
                shape=tuple(a.shape[1:]), dtype=torch.long, vocab_size=vocab_sizes[m]
            )
        else:
            specs[m] = ModalitySpec(shape=tuple(a.shape[1:]))
    info = {
        "source": "mimic-iv",
        "task": task,
        "cache_key": summary["cache_key"],
        "cohort": {k: summary["cohort"][k] for k in ("admissions", "patients")},
        "labels": summary["labels"],
        "split": {k: summary["split"][k] for k in ("by", "seed", "fractions")},
        "unlabelled": unlabelled,
        "split_counts": {
            name: {
                "admissions": len(t),
                **label_counts(np.where(t.labelled.numpy(), t.y.numpy(), UNLABELLED)),
            }
            for name, t in splits.items()
        },
        "notes": "present" if summary["modalities"]["notes"]["observed"] else "absent",
        # Before any simulated masking (the trainer records that separately as "missingness").
        "natural_missingness": _patterns(splits, chosen),
    }
    return MultimodalDataset(
        train=splits["train"], val=splits["val"], test=splits["test"],
        specs=specs, task="binary", num_classes=2, info=info,
    )  # fmt: skip


def _patterns(splits: dict[str, MultimodalTensors], chosen: list[str]) -> dict[str, int]:
    return pattern_counts(
        {m: np.concatenate([t.mask[m].numpy() for t in splits.values()]) for m in chosen}
    )
