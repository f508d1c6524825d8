"""Build the data set a config asks for, validate it, and apply missingness and noise."""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig

from mmc.config.build import build
from mmc.config.modalities import resolve_modality, validate_modalities
from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.data.corruption import add_uniform_noise, drop_modalities, feature_range
from mmc.data.weighting import upweight_modality
from mmc.errors import DataError, check


def validate_dataset(data: MultimodalDataset, name: str) -> None:
    """Shapes, dtypes, labels and NaNs, checked once so that nothing fails deep in a layer."""
    check(
        data.task in ("binary", "multiclass"),
        f"dataset {name}: unknown task {data.task!r}",
        DataError,
    )
    for split_name, split in data.splits().items():
        n = len(split)
        check(n > 0, f"dataset {name}: the {split_name} split is empty", DataError)
        check(
            set(split.x) == set(data.specs),
            f"dataset {name}: {split_name} modalities {sorted(split.x)} != {sorted(data.specs)}",
            DataError,
        )
        for m, spec in data.specs.items():
            x, mask = split.x[m], split.mask[m]
            check(
                tuple(x.shape[1:]) == tuple(spec.shape) and x.shape[0] == n,
                f"dataset {name}: {split_name} modality {m} has shape {tuple(x.shape)}, "
                f"expected ({n}, {', '.join(map(str, spec.shape))})",
                DataError,
            )
            check(
                mask.dtype == torch.bool and mask.shape == (n,),
                f"dataset {name}: {split_name} mask of {m} must be a bool tensor of shape ({n},)",
                DataError,
            )
            if x.is_floating_point() and bool(mask.any()):
                bad = ~torch.isfinite(x[mask]).reshape(int(mask.sum()), -1).all(dim=1)
                check(
                    not bool(bad.any()),
                    f"dataset {name}: {split_name} modality {m} has NaN/inf in {int(bad.sum())} "
                    "observed samples; impute them or mark them missing in the mask",
                    DataError,
                )
        y = split.y[split.labelled]
        if data.task == "multiclass" and len(y):
            check(
                int(y.min()) >= 0 and int(y.max()) < data.num_classes,
                f"dataset {name}: {split_name} labels must lie in [0, {data.num_classes})",
                DataError,
            )
        if data.task == "binary" and len(y):
            check(
                bool(((y == 0) | (y == 1)).all()),
                f"dataset {name}: {split_name} binary labels must be 0/1",
                DataError,
            )


def missingness_counts(split: MultimodalTensors) -> dict[str, int]:
    """Count per missingness pattern, e.g. {"m0+m1": 120, "m1": 30, "(none)": 0}."""
    mods = split.modalities
    stacked = torch.stack([split.mask[m] for m in mods], dim=1)
    patterns, counts = torch.unique(stacked, dim=0, return_counts=True)
    out = {}
    for p, c in zip(patterns.tolist(), counts.tolist()):
        key = "+".join(m for m, on in zip(mods, p) if on) or "(none)"
        out[key] = int(c)
    return out


def blank_missing(split: MultimodalTensors) -> MultimodalTensors:
    """Zero every value under a False mask: NaNs there would poison gradients through the
    encoders, and no fill-in or backbone may ever see a hidden modality's true values."""
    xs = {}
    for m, x in split.x.items():
        keep = split.mask[m].reshape(-1, *([1] * (x.dim() - 1)))
        xs[m] = torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
    return MultimodalTensors(xs, split.mask, split.y, split.labelled)


def build_dataset(cfg: DictConfig) -> MultimodalDataset:
    name = cfg.dataset.get("name", "dataset")
    data = build(cfg.dataset.source, "dataset.source")
    check(
        isinstance(data, MultimodalDataset),
        f"dataset.source of {name} must return a MultimodalDataset",
    )
    validate_dataset(data, name)
    validate_modalities(cfg, data.modalities, data.info)
    return corrupt(data, cfg)


def corrupt(data: MultimodalDataset, cfg: DictConfig) -> MultimodalDataset:
    d = cfg.data
    seed = cfg.seed if d.corruption_seed is None else d.corruption_seed
    gen = torch.Generator().manual_seed(int(seed) + 7919)
    train_rate = d.missing_rate
    test_rate = train_rate if d.test_missing_rate is None else d.test_missing_rate
    train_mods = list(d.missing_modalities or data.modalities)
    test_mods = list(d.test_missing_modalities or d.missing_modalities or data.modalities)
    splits = {
        "train": drop_modalities(data.train, train_rate, train_mods, gen),
        "val": drop_modalities(data.val, test_rate, test_mods, gen),
        "test": drop_modalities(data.test, test_rate, test_mods, gen),
    }
    if d.noise_rate > 0:
        m = resolve_modality(d.noise_modality, data.modalities, data.info, "data.noise_modality")
        check(
            data.train.x[m].is_floating_point(),
            f"data.noise_modality={m} holds integer codes; additive noise needs a continuous modality",
        )
        scale = feature_range(data.train.x[m], data.train.mask[m])
        for s in d.noise_splits:
            splits[s] = add_uniform_noise(splits[s], m, d.noise_rate, scale, gen)
        data.info["noise_modality"] = m
    if d.modality_weight != 1.0:
        splits = upweight_modality(splits, data, d)
    data.train, data.val, data.test = (blank_missing(splits[s]) for s in ("train", "val", "test"))
    data.info["missingness"] = {s: missingness_counts(t) for s, t in splits.items()}
    data.info["observed_fraction"] = {
        m: float(data.train.mask[m].float().mean()) if len(data.train) else math.nan
        for m in data.modalities
    }
    return data
