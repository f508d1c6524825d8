"""MUSE's two labels, per admission: 1 positive, 0 negative, -1 unlabelled (no evidence).

Mortality: death within 90 days of discharge (dod - discharge date <= 90 days). With no date
of death, the admission is negative only if the patient's next admission starts more than 90
days after discharge (they were alive then); otherwise nothing is known and it is unlabelled.
Readmission: the patient's next admission starts within 15 days of discharge; unlabelled when
there is no next admission.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNLABELLED = -1
MORTALITY_DAYS = 90
READMISSION_DAYS = 15
TASKS = ("mortality", "readmission")


def next_admission(adm: pd.DataFrame) -> pd.Series:
    """Admit time of the same patient's next admission (over *all* admissions, not the cohort)."""
    order = adm.sort_values(["subject_id", "admittime", "hadm_id"])
    nxt = order.groupby("subject_id", sort=False)["admittime"].shift(-1)
    return nxt.reindex(adm.index)


def days_until_next(adm: pd.DataFrame) -> pd.Series:
    return (adm["next_admittime"] - adm["dischtime"]) / pd.Timedelta(days=1)


def mortality_label(adm: pd.DataFrame) -> np.ndarray:
    disch_date = adm["dischtime"].dt.normalize()
    days_to_death = (pd.to_datetime(adm["dod"]) - disch_date) / pd.Timedelta(days=1)
    gap = days_until_next(adm)
    has_dod = days_to_death.notna().to_numpy()
    out = np.full(len(adm), UNLABELLED, dtype=np.int8)
    out[has_dod] = (days_to_death.to_numpy()[has_dod] <= MORTALITY_DAYS).astype(np.int8)
    alive_later = ~has_dod & (gap > MORTALITY_DAYS).to_numpy()
    out[alive_later] = 0
    return out


def readmission_label(adm: pd.DataFrame) -> np.ndarray:
    gap = days_until_next(adm).to_numpy()
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
