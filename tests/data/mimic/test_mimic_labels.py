"""MUSE's labels and cohort rules on hand-made admissions, one case per rule branch."""

import numpy as np
import pandas as pd
import pytest

from mmc.data.mimic.cohort import CohortRules, select_cohort
from mmc.data.mimic.labels import mortality_label, next_admission, readmission_label
from mmc.errors import DataError

T = pd.Timestamp


def admissions(rows):
    cols = ["subject_id", "hadm_id", "admittime", "dischtime", "dod"]
    df = pd.DataFrame(rows, columns=cols)
    df["admittime"], df["dischtime"] = (
        pd.to_datetime(df["admittime"]),
        pd.to_datetime(df["dischtime"]),
    )
    df["dod"] = pd.to_datetime(df["dod"])
    df["next_admittime"] = next_admission(df)
    return df


def test_muse_rule_counts_whole_days_floored_from_dischtime():
    adm = admissions([
        # dod 90 d 6 h after discharge: floor 90 -> positive (fractional, from the date: 91 -> negative)
        (1, 11, "2150-01-01 10:00", "2150-01-05 18:00", "2150-04-06"),
        # dod 91 d 6 h after discharge: floor 91 -> negative
        (2, 21, "2150-01-01 10:00", "2150-01-05 18:00", "2150-04-07"),
        # died on the discharge day (dod at midnight, before dischtime): floor(-0.75) = -1 -> positive
        (3, 31, "2150-01-01 10:00", "2150-01-05 18:00", "2150-01-05"),
        # next admission 15 d 23 h after discharge: floor 15 -> readmitted (fractional: 15.96 > 15)
        (4, 41, "2150-01-01 10:00", "2150-01-05 10:00", None),
        (4, 42, "2150-01-21 09:00", "2150-01-22 10:00", None),
        # next admission 16 d 0 h 1 min later: floor 16 -> not readmitted
        (5, 51, "2150-01-01 10:00", "2150-01-05 10:00", None),
        (5, 52, "2150-01-21 10:01", "2150-01-22 10:00", None),
        # no dod, next admission 90 d 23 h later: floor 90, not > 90 -> mortality unlabelled
        (6, 61, "2150-01-01 10:00", "2150-01-05 10:00", None),
        (6, 62, "2150-04-05 09:00", "2150-04-06 10:00", None),
        # no dod, next admission 91 d later -> mortality negative
        (7, 71, "2150-01-01 10:00", "2150-01-05 10:00", None),
        (7, 72, "2150-04-06 10:00", "2150-04-07 10:00", None),
    ])  # fmt: skip
    mort = dict(zip(adm.hadm_id, mortality_label(adm)))
    readm = dict(zip(adm.hadm_id, readmission_label(adm)))
    assert {h: mort[h] for h in (11, 21, 31, 61, 71)} == {11: 1, 21: 0, 31: 1, 61: -1, 71: 0}
    assert {h: readm[h] for h in (41, 51, 61, 71)} == {41: 1, 51: 0, 61: 0, 71: 0}
    # The old fractional rule disagrees exactly on the boundary cases.
    mort_f = dict(zip(adm.hadm_id, mortality_label(adm, "fractional")))
    readm_f = dict(zip(adm.hadm_id, readmission_label(adm, "fractional")))
    assert mort_f[11] == 0 and readm_f[41] == 0


def test_fractional_rule_is_the_previous_behaviour():
    adm = admissions([
        # subject 1: dies 90 days after discharge date -> positive; readmission unlabelled (no next)
        (1, 11, "2150-01-01 10:00", "2150-01-05 18:00", "2150-04-05"),
        # subject 2: dies 91 days after -> mortality negative
        (2, 21, "2150-01-01 10:00", "2150-01-05 18:00", "2150-04-06"),
        # subject 3: no dod; next admission 100 days later -> mortality negative, readmission negative
        (3, 31, "2150-01-01 10:00", "2150-01-05 10:00", None),
        (3, 32, "2150-04-15 10:00", "2150-04-16 10:00", None),
        # subject 4: no dod; next admission 10 days later -> mortality unlabelled, readmission positive
        (4, 41, "2150-01-01 10:00", "2150-01-05 10:00", None),
        (4, 42, "2150-01-15 10:00", "2150-01-16 10:00", None),
        # subject 5: rows out of time order; next admission exactly 15 days later -> positive
        (5, 52, "2150-02-20 10:00", "2150-02-21 10:00", None),
        (5, 51, "2150-02-01 10:00", "2150-02-05 10:00", None),
    ])  # fmt: skip
    mort = dict(zip(adm.hadm_id, mortality_label(adm, "fractional")))
    readm = dict(zip(adm.hadm_id, readmission_label(adm, "fractional")))
    assert mort == {11: 1, 21: 0, 31: 0, 32: -1, 41: -1, 42: -1, 52: -1, 51: -1}
    assert readm == {11: -1, 21: -1, 31: 0, 32: -1, 41: 1, 42: -1, 52: -1, 51: 1}


def cohort_frame(rows):
    df = admissions([r[:5] for r in rows])
    df = df.drop(columns="next_admittime")
    df["anchor_age"] = [r[5] for r in rows]
    df["anchor_year"] = 2150
    df["hospital_expire_flag"] = [r[6] for r in rows]
    df["race"], df["gender"] = "WHITE", "F"
    return df


def test_cohort_rules_are_inclusive_at_their_bounds_and_count_exclusions():
    adm = cohort_frame([
        (1, 1, "2150-01-01 00:00", "2150-01-11 00:00", None, 50, 0),  # LOS exactly 10 d: kept
        (2, 2, "2150-01-01 00:00", "2150-01-11 00:01", None, 50, 0),  # LOS over 10 d
        (3, 3, "2150-01-01 00:00", "2150-01-02 00:00", None, 18, 0),  # age 18: kept
        (4, 4, "2150-01-01 00:00", "2150-01-02 00:00", None, 89, 0),  # age 89: kept
        (5, 5, "2150-01-01 00:00", "2150-01-02 00:00", None, 90, 0),  # age 90
        (6, 6, "2150-01-01 00:00", "2150-01-02 00:00", None, 17, 0),  # age 17
        (7, 7, "2150-01-01 00:00", "2150-01-02 00:00", "2150-01-02", 60, 1),  # died in hospital
    ])  # fmt: skip
    cohort, facts = select_cohort(adm, CohortRules(), "admissions.csv.gz")
    assert sorted(cohort.hadm_id) == [1, 3, 4]
    assert facts["excluded"]["los_over_10_days"] == 1
    assert facts["excluded"]["age_outside_18_89"] == 2
    assert facts["excluded"]["died_in_hospital"] == 1
    # Age uses the admission year: anchor age 80 in 2150, admitted in 2160 -> 90, too old.
    later = cohort_frame([(1, 1, "2160-01-01 00:00", "2160-01-02 00:00", None, 80, 0)])
    assert select_cohort(later, CohortRules(max_age=95), "a")[0]["age"].tolist() == [90]
    with pytest.raises(DataError, match="admissions.csv.gz: no admission passes the cohort rules"):
        select_cohort(later, CohortRules(), "admissions.csv.gz")


def test_patient_split_never_shares_a_patient_and_is_seeded():
    from mmc.data.mimic.split import assign_splits

    cohort = pd.DataFrame({"subject_id": np.repeat(np.arange(200), 3), "hadm_id": np.arange(600)})
    a = assign_splits(cohort, "patient", (0.7, 0.1, 0.2), 42)
    assert (a == assign_splits(cohort, "patient", (0.7, 0.1, 0.2), 42)).all()
    assert not (a == assign_splits(cohort, "patient", (0.7, 0.1, 0.2), 43)).all()
    per_patient = pd.Series(a).groupby(cohort.subject_id).nunique()
    assert (per_patient == 1).all()
    assert np.bincount(a).tolist() == [420, 60, 120]
    b = assign_splits(cohort, "admission", (0.7, 0.1, 0.2), 42)
    assert (pd.Series(b).groupby(cohort.subject_id).nunique() > 1).any()
