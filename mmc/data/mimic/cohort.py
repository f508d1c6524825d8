"""MUSE's cohort: adult admissions (age 18-89) of at most 10 days that the patient survived.

Age at admission = year(admittime) - anchor_year + anchor_age (MIMIC-IV shifts dates per
patient and publishes the age in the anchor year). Labels are computed on all admissions
first, because the "next admission" of a cohort admission may itself be outside the cohort.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmc.data.mimic.labels import (
    days_until_next,
    label_counts,
    mortality_label,
    next_admission,
    readmission_label,
)
from mmc.errors import DataError, check

log = logging.getLogger("mmc")


@dataclass(frozen=True)
class CohortRules:
    max_los_days: float = 10.0
    min_age: int = 18
    max_age: int = 89
    exclude_in_hospital_death: bool = True
    label_rule: str = "muse"  # see labels.py: "muse" (floored days) | "fractional"


def read_admissions(con, scans: dict[str, str]) -> pd.DataFrame:
    """Every admission joined with its patient (one small query; ~431k rows at full scale).

    Race and gender come back as categoricals: a few dozen distinct strings each, so codes
    instead of one string per admission keep the cohort stage's pandas frames small."""
    sql = f"""
        SELECT a.subject_id, a.hadm_id, a.admittime, a.dischtime, a.race,
               a.hospital_expire_flag, p.gender, p.anchor_age, p.anchor_year, p.dod
        FROM {scans["admissions"]} a
        LEFT JOIN {scans["patients"]} p USING (subject_id)
    """
    try:
        import pyarrow  # optional: pandas and DuckDB work without it
    except ImportError:
        adm = con.execute(sql).fetchdf()
        for col in ("race", "gender"):
            adm[col] = adm[col].astype("category")
        return adm
    # Through Arrow, in batches: DuckDB's fetchdf peaked 157 MiB above the process's base on
    # 426k admissions (a 21 MiB frame), this 108 MiB; strings become categoricals in the
    # conversion and each Arrow column is freed as soon as it is converted.
    rel = con.sql(sql)
    # to_arrow_reader: the newer name (DuckDB 2.0 deprecates fetch_arrow_reader)
    reader = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader
    # The system allocator for the frame: pandas' own copies of it then reuse the memory that
    # Arrow's default pool (mimalloc) would have kept for itself.
    return (
        reader(65536)
        .read_all()
        .to_pandas(
            strings_to_categorical=True,
            date_as_object=False,
            self_destruct=True,
            split_blocks=True,
            memory_pool=pyarrow.system_memory_pool(),
        )
    )


def select_cohort(adm: pd.DataFrame, rules: CohortRules, source: str) -> tuple[pd.DataFrame, dict]:
    """Cohort rows (with age, both labels) and the count each rule excluded."""
    adm = adm.drop_duplicates("hadm_id").reset_index(drop=True)
    check(len(adm) > 0, f"{source} has no admissions", DataError)
    adm["next_admittime"] = next_admission(adm)
    adm["mortality"] = mortality_label(adm, rules.label_rule)
    adm["readmission"] = readmission_label(adm, rules.label_rule)
    adm["days_to_next"] = days_until_next(adm, rules.label_rule)
    adm["age"] = adm["admittime"].dt.year - adm["anchor_year"] + adm["anchor_age"]
    los = (adm["dischtime"] - adm["admittime"]) / pd.Timedelta(days=1)

    rules_ok = {
        "no_patient_record": adm["anchor_age"].notna(),
        "missing_times": adm["admittime"].notna() & adm["dischtime"].notna(),
        f"los_over_{rules.max_los_days:g}_days": los <= rules.max_los_days,
        f"age_outside_{rules.min_age}_{rules.max_age}": adm["age"].between(
            rules.min_age, rules.max_age
        ),
    }
    if rules.exclude_in_hospital_death:
        rules_ok["died_in_hospital"] = adm["hospital_expire_flag"].fillna(0).astype(int) != 1
    keep = np.ones(len(adm), dtype=bool)
    excluded = {}
    for name, ok in rules_ok.items():
        ok = ok.fillna(False).to_numpy()
        excluded[name] = int((keep & ~ok).sum())  # counted in order: first rule that drops it
        keep &= ok
    cohort = (
        adm.loc[keep].sort_values(["subject_id", "admittime", "hadm_id"]).reset_index(drop=True)
    )
    check(
        len(cohort) > 0,
        f"{source}: no admission passes the cohort rules (length of stay <= "
        f"{rules.max_los_days:g} days, age {rules.min_age}-{rules.max_age}, survived the stay); "
        "check the admissions and patients tables",
        DataError,
    )
    facts = {
        "all_admissions": int(len(adm)),
        "admissions": int(len(cohort)),
        "patients": int(cohort["subject_id"].nunique()),
        "excluded": excluded,
        "labels": {t: label_counts(cohort[t].to_numpy()) for t in ("mortality", "readmission")},
    }
    return cohort, facts
