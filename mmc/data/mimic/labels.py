"""MUSE's two labels, per admission: 1 positive, 0 negative, -1 unlabelled (no evidence).

Day gaps are measured from `dischtime`. Two ways to count them (`dataset.label_rule`):
- "muse" (default): whole days, floored, as MUSE's code does with pandas `.dt.days`
  (a gap of 15 days 23 hours counts as 15; a date of death, at midnight, on the discharge day
  counts as -1).
- "fractional": exact fractional days; mortality from the discharge *date* (mmc's rule before
  it followed MUSE's arithmetic; kept to reproduce earlier runs).

Mortality: days(dod - dischtime) <= 90 positive, > 90 negative; with no date of death, negative
when days(next admittime - dischtime) > 90 (alive then), otherwise unlabelled.
Readmission: days(next admittime - dischtime) <= 15 positive, else negative; unlabelled when
there is no next admission. (PyHealth's readmission task uses a strict < 15 days instead.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNLABELLED = -1
MORTALITY_DAYS = 90
READMISSION_DAYS = 15
TASKS = ("mortality", "readmission")
LABEL_RULES = ("muse", "fractional")


def next_admission(adm: pd.DataFrame) -> pd.Series:
    """Admit time of the same patient's next admission (over *all* admissions, not the cohort)."""
    order = adm.sort_values(["subject_id", "admittime", "hadm_id"])
    nxt = order.groupby("subject_id", sort=False)["admittime"].shift(-1)
    return nxt.reindex(adm.index)


def _days(delta: pd.Series, rule: str) -> np.ndarray:
    """Timedeltas as days (NaN where missing): floored whole days for "muse"."""
    days = (delta / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    return np.floor(days) if rule == "muse" else days


def days_until_next(adm: pd.DataFrame, rule: str = "muse") -> np.ndarray:
    return _days(adm["next_admittime"] - adm["dischtime"], rule)


def mortality_label(adm: pd.DataFrame, rule: str = "muse") -> np.ndarray:
    dod = pd.to_datetime(adm["dod"])
    disch = adm["dischtime"] if rule == "muse" else adm["dischtime"].dt.normalize()
    to_death = _days(dod - disch, rule)
    gap = days_until_next(adm, rule)
    has_dod = ~np.isnan(to_death)
    out = np.full(len(adm), UNLABELLED, dtype=np.int8)
    out[has_dod] = (to_death[has_dod] <= MORTALITY_DAYS).astype(np.int8)
    with np.errstate(invalid="ignore"):
        alive_later = ~has_dod & (gap > MORTALITY_DAYS)
    out[alive_later] = 0
    return out


def readmission_label(adm: pd.DataFrame, rule: str = "muse") -> np.ndarray:
    gap = days_until_next(adm, rule)
    out = np.full(len(adm), UNLABELLED, dtype=np.int8)
    known = ~np.isnan(gap)
    out[known] = (gap[known] <= READMISSION_DAYS).astype(np.int8)
    return out


def label_counts(labels: np.ndarray) -> dict[str, int]:
    return {
        "positive": int((labels == 1).sum()),
        "negative": int((labels == 0).sum()),
        "unlabelled": int((labels == UNLABELLED).sum()),
    }
