"""The preparation on the real demo, checked against an independent pandas reading of the CSVs."""

import json
import time

import numpy as np
import pandas as pd

from mmc.data.mimic import cache
from mmc.data.mimic.prepare import MODALITIES, prepare_mimic


def entry_of(cache_dir, summary):
    return cache.cache_root(cache_dir) / summary["cache_key"]


def reference_cohort(root):
    adm = pd.read_csv(root / "hosp/admissions.csv.gz", parse_dates=["admittime", "dischtime"])
    pat = pd.read_csv(root / "hosp/patients.csv.gz", parse_dates=["dod"])
    df = adm.merge(pat, on="subject_id").sort_values(["subject_id", "admittime"])
    df["next"] = df.groupby("subject_id")["admittime"].shift(-1)
    age = df.admittime.dt.year - df.anchor_year + df.anchor_age
    los = (df.dischtime - df.admittime).dt.total_seconds() / 86400
    df = df[(los <= 10) & age.between(18, 89) & (df.hospital_expire_flag != 1)].copy()
    # MUSE's arithmetic: pandas .dt.days of the gap from dischtime (whole days, floored).
    gap = (df["next"] - df.dischtime).dt.days
    death = (df.dod - df.dischtime).dt.days
    df["mortality"] = np.select(
        [df.dod.notna() & (death <= 90), df.dod.notna(), gap > 90], [1, 0, 0], -1
    )
    df["readmission"] = np.select([gap <= 15, gap > 15], [1, 0], -1)
    return df


def in_stay_labs(root, hadm_ids):
    """Numeric lab rows of the given admissions measured at or before their discharge."""
    lab = pd.read_csv(
        root / "hosp/labevents.csv.gz",
        usecols=["hadm_id", "itemid", "charttime", "valuenum", "flag"],
        parse_dates=["charttime"],
    )
    adm = pd.read_csv(root / "hosp/admissions.csv.gz", parse_dates=["dischtime"])
    lab = lab[lab.valuenum.notna() & lab.hadm_id.isin(hadm_ids)]
    lab = lab.merge(adm[["hadm_id", "dischtime"]], on="hadm_id")
    return lab[lab.charttime <= lab.dischtime]


def test_demo_cohort_and_labels_match_an_independent_reading(demo_root, demo_cache):
    summary = prepare_mimic(root=str(demo_root), cache_dir=str(demo_cache))
    ref = reference_cohort(demo_root)
    assert summary["cohort"]["admissions"] == len(ref) == 201
    assert summary["cohort"]["patients"] == ref.subject_id.nunique() == 79
    assert summary["label_rule"] == "muse"
    assert summary["labels"]["mortality"] == {"positive": 10, "negative": 91, "unlabelled": 100}
    assert summary["labels"]["readmission"] == {"positive": 27, "negative": 108, "unlabelled": 66}
    for task in ("mortality", "readmission"):
        counts = summary["labels"][task]
        assert counts == {
            "positive": int((ref[task] == 1).sum()),
            "negative": int((ref[task] == 0).sum()),
            "unlabelled": int((ref[task] == -1).sum()),
        }
    meta = np.load(entry_of(demo_cache, summary) / "cohort.npz")
    by_hadm = ref.set_index("hadm_id")
    assert (by_hadm.loc[meta["hadm_id"], "mortality"].to_numpy() == meta["mortality"]).all()
    # Split by patient: no patient in two splits; sizes roughly 70/10/20 of patients.
    per_patient = pd.Series(meta["split"]).groupby(meta["subject_id"]).nunique()
    assert (per_patient == 1).all()
    assert (
        set(summary["missingness_patterns"])
        and sum(summary["missingness_patterns"].values()) == 201
    )
    assert summary["modalities"]["notes"]["observed"] == 0  # the demo has no notes


def test_unchanged_settings_hit_the_cache_and_a_changed_one_rebuilds(demo_root, demo_cache):
    first = prepare_mimic(root=str(demo_root), cache_dir=str(demo_cache))
    manifest = entry_of(demo_cache, first) / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    t0 = time.perf_counter()
    again = prepare_mimic(root=str(demo_root), cache_dir=str(demo_cache))
    assert time.perf_counter() - t0 < 2.0
    assert again["cache_key"] == first["cache_key"] and manifest.stat().st_mtime_ns == stamp
    other = prepare_mimic(root=str(demo_root), cache_dir=str(demo_cache), split_seed=7)
    assert other["cache_key"] != first["cache_key"]
    assert (
        other["cohort"] == first["cohort"]
        and other["split"]["admissions"] != first["split"]["admissions"]
    )


def test_statistics_come_from_the_training_split_only(demo_root, demo_cache):
    summary = prepare_mimic(root=str(demo_root), cache_dir=str(demo_cache))
    entry = entry_of(demo_cache, summary)
    meta = np.load(entry / "cohort.npz")
    train = meta["split"] == 0
    age_z = np.load(entry / "demographics.npy")[:, 0].astype(np.float64)
    assert abs(age_z[train].mean()) < 1e-2 and abs(age_z[train].std() - 1) < 1e-2
    assert abs(age_z[~train].mean()) > 1e-2  # other splits are not re-centred on themselves

    feats = json.loads((entry / "lab_features.json").read_text())["features"]
    lab = in_stay_labs(demo_root, meta["hadm_id"][train])
    for f in feats[:8]:
        vals = lab.loc[lab.itemid == f["itemid"], "valuenum"]
        assert f["train_rows"] == len(vals)
        # Mean/std of the training values without the floor(0.5% n) lowest and highest.
        cut = int(np.floor(len(vals) * 0.005))
        trimmed = np.sort(vals.to_numpy())[cut : len(vals) - cut]
        assert (f["trim_low"], f["trim_high"]) == (trimmed[0], trimmed[-1])
        assert np.isclose(f["mean"], trimmed.mean()) and np.isclose(f["std"], trimmed.std())
        assert np.isclose(f["untrimmed_std"], vals.std(ddof=0))


def test_lab_sequence_is_grouped_by_time_and_carried_forward(demo_root, demo_cache):
    summary = prepare_mimic(root=str(demo_root), cache_dir=str(demo_cache))
    entry = entry_of(demo_cache, summary)
    meta = np.load(entry / "cohort.npz")
    feats = json.loads((entry / "lab_features.json").read_text())["features"]
    k_of = {f["itemid"]: k for k, f in enumerate(feats)}
    x = np.load(entry / "labs.npy").astype(np.float32)
    K, steps = len(feats), x.shape[1]
    lab = in_stay_labs(demo_root, meta["hadm_id"])
    lab = lab[lab.itemid.isin(k_of)]
    per_adm = lab.groupby("hadm_id").charttime.nunique()
    # One admission longer than the window (carry-in matters) and one shorter (left padding).
    long_h = per_adm[per_adm > steps].index[0]
    short_h = per_adm[per_adm < steps].index[0]
    for hadm in (long_h, short_h):
        rows = lab[lab.hadm_id == hadm]
        g = rows.groupby(["charttime", "itemid"]).agg(
            v=("valuenum", "mean"), a=("flag", lambda s: (s == "abnormal").any())
        )
        g = g.reset_index()
        g["k"] = g.itemid.map(k_of)
        g["z"] = np.clip(
            [(v - feats[k]["mean"]) / feats[k]["std"] for v, k in zip(g.v, g.k)], -10, 10
        )
        z = (
            g.pivot(index="charttime", columns="k", values="z")
            .reindex(columns=range(K))
            .sort_index()
        )
        a = (
            g.pivot(index="charttime", columns="k", values="a")
            .reindex(columns=range(K))
            .sort_index()
        )
        a = a.astype(float).where(z.notna()).ffill()
        z = z.ffill()
        z, a = z.fillna(0).to_numpy()[-steps:], a.fillna(0).to_numpy()[-steps:]
        n = len(z)
        got = x[int(np.flatnonzero(meta["hadm_id"] == hadm)[0])]
        np.testing.assert_allclose(got[steps - n :, :K], z, atol=2e-2, rtol=2e-3)
        np.testing.assert_array_equal(got[steps - n :, K : 2 * K], a)
        assert (got[steps - n :, -1] == 1).all() and (got[: steps - n] == 0).all()


def test_all_six_modalities_have_the_documented_shapes(demo_root, demo_cache):
    summary = prepare_mimic(root=str(demo_root), cache_dir=str(demo_cache))
    shapes = {m: tuple(v["shape"]) for m, v in summary["modalities"].items()}
    assert set(shapes) == set(MODALITIES)
    n_items = summary["details"]["labs"]["features"]
    assert shapes["labs"] == (50, 2 * n_items + 1) and shapes["diagnoses"] == (50,)
    assert shapes["demographics"] == (9,) and shapes["notes"] == (384,)


def test_lab_items_are_every_matching_item_by_default_or_the_k_most_frequent(demo_root, demo_cache):
    summary = prepare_mimic(root=str(demo_root), cache_dir=str(demo_cache))
    feats = json.loads((entry_of(demo_cache, summary) / "lab_features.json").read_text())
    feats = feats["features"]
    meta = np.load(entry_of(demo_cache, summary) / "cohort.npz")
    items = pd.read_csv(demo_root / "hosp/d_labitems.csv.gz").dropna(subset=["label"])
    keywords = ("Hematocrit", "Platelet", "WBC", "Bilirubin", "pH", "Bicarbonate", "Creatinine",
                "Lactate", "Potassium", "Sodium")  # fmt: skip
    matching = set(items.itemid[items.label.map(lambda t: any(k in t for k in keywords))])
    with_train_values = set(in_stay_labs(demo_root, meta["hadm_id"][meta["split"] == 0]).itemid)
    assert {f["itemid"] for f in feats} == matching & with_train_values
    assert summary["details"]["labs"]["selection"] == "all matching" and len(feats) > 16
    top = prepare_mimic(root=str(demo_root), cache_dir=str(demo_cache), lab_max_items=5)
    assert top["details"]["labs"]["features"] == 5
    assert top["modalities"]["labs"]["shape"] == [50, 11]
    top_feats = json.loads((entry_of(demo_cache, top) / "lab_features.json").read_text())
    assert [f["itemid"] for f in top_feats["features"]] == [f["itemid"] for f in feats[:5]]
