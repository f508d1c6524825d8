"""Natural missingness patterns of the MIMIC cohort (counted at prepare time and at load)."""

from __future__ import annotations

import numpy as np


def pattern_counts(masks: dict[str, np.ndarray]) -> dict[str, int]:
    """Admissions per natural missingness pattern, e.g. {"labs+demographics+...": 812}."""
    names = list(masks)
    stacked = np.stack([masks[m] for m in names], axis=1)
    patterns, counts = np.unique(stacked, axis=0, return_counts=True)
    return {
        "+".join(m for m, on in zip(names, p) if on) or "(none)": int(c)
        for p, c in sorted(zip(patterns.tolist(), counts.tolist()), key=lambda t: -t[1])
    }
