"""Demographics: age (z-scored with training-split statistics), gender, coarse race group."""

from __future__ import annotations

import numpy as np
import pandas as pd

RACE_GROUPS = ("white", "black", "hispanic", "asian", "other", "unknown")
GENDERS = ("F", "M")
UNKNOWN_RACE = ("UNKNOWN", "UNABLE TO OBTAIN", "PATIENT DECLINED TO ANSWER")


def race_group(race: pd.Series) -> pd.Series:
    """Coarse group per admission; the string rules run once per distinct race (categories)."""
    race = race.astype("category")
    groups = _groups(pd.Series(race.cat.categories, dtype=object))
    # Code -1 (a missing race) picks the appended last entry: missing counts as "UNKNOWN".
    groups = np.append(groups, "unknown").astype(object)
    return pd.Series(groups[race.cat.codes.to_numpy()], index=race.index)


def _groups(race: pd.Series) -> np.ndarray:
    r = race.fillna("UNKNOWN").astype(str).str.upper().str.strip()
    out = pd.Series("other", index=r.index)
    out[r.str.startswith("WHITE") | r.str.startswith("PORTUGUESE")] = "white"
    out[r.str.startswith("BLACK")] = "black"
    out[r.str.startswith("HISPANIC") | r.str.startswith("SOUTH AMERICAN")] = "hispanic"
    out[r.str.startswith("ASIAN")] = "asian"
    out[r.isin(UNKNOWN_RACE) | (r == "")] = "unknown"
    return out.to_numpy(dtype=object)


def demographics(cohort: pd.DataFrame, train: np.ndarray) -> tuple[np.ndarray, dict]:
    """[N, 1 + 2 + 6] float32: z-scored age, gender one-hot, race-group one-hot."""
    age = cohort["age"].to_numpy(dtype=np.float64)
    mean, std = float(age[train].mean()), float(age[train].std())
    z = (age - mean) / (std if std > 0 else 1.0)
    gender = np.stack([(cohort["gender"] == g).to_numpy() for g in GENDERS], axis=1)
    groups = race_group(cohort["race"])
    race = np.stack([(groups == g).to_numpy() for g in RACE_GROUPS], axis=1)
    x = np.concatenate([z[:, None], gender, race], axis=1).astype(np.float32)
    return x, {
        "features": [
            "age_z",
            *(f"gender_{g}" for g in GENDERS),
            *(f"race_{g}" for g in RACE_GROUPS),
        ]
    }
