"""Seeded train/val/test assignment by patient (no patient in two splits) or by admission."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmc.errors import ConfigError, check, choices_error

SPLITS = ("train", "val", "test")
SPLIT_BY = ("patient", "admission")


def assign_splits(
    cohort: pd.DataFrame, by: str, fractions: tuple[float, float, float], seed: int
) -> np.ndarray:
    """Split code per cohort row: 0 train, 1 val, 2 test."""
    if by not in SPLIT_BY:
        raise choices_error("dataset.split_by", by, SPLIT_BY)
    check(
        len(fractions) == 3 and all(f > 0 for f in fractions) and abs(sum(fractions) - 1) < 1e-6,
        f"dataset.split_fractions={list(fractions)} must be three positive numbers summing to 1 "
        "(e.g. [0.7, 0.1, 0.2])",
        ConfigError,
    )
    key = "subject_id" if by == "patient" else "hadm_id"
    units = np.sort(cohort[key].unique())
    order = np.random.default_rng(seed).permutation(len(units))
    n_train = int(round(fractions[0] * len(units)))
    n_val = int(round(fractions[1] * len(units)))
    code = np.full(len(units), 2, dtype=np.int8)
    code[order[:n_train]] = 0
    code[order[n_train : n_train + n_val]] = 1
    return pd.Series(code, index=units).reindex(cohort[key].to_numpy()).to_numpy()
