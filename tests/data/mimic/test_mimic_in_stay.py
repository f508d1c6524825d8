"""No event timed after discharge reaches a tensor or a vocabulary.

Rows are planted after `dischtime` into a copy of the real demo (prescriptions, procedures, lab
events of an existing item and of a new item); the planted copy must prepare to exactly the same
tensors, masks, vocabularies and lab features as the untouched demo, and the summary must count
the planted rows as dropped.
"""

import gzip
import json
import logging
import shutil

import numpy as np
import pandas as pd

from mmc.data.mimic import cache
from mmc.data.mimic.prepare import prepare_mimic
from mmc.data.mimic.tables import HOSP_TABLES

PLANTED_ITEM = 99_999_001


def read(root, name):
    return pd.read_csv(root / "hosp" / f"{name}.csv.gz", dtype=str, keep_default_na=False)


def append(root, name, rows: list[dict]):
    df = read(root, name)
    df = pd.concat(
        [df, pd.DataFrame(rows, columns=df.columns, dtype=object).fillna("")], ignore_index=True
    )
    with gzip.open(root / "hosp" / f"{name}.csv.gz", "wt", newline="") as f:
        df.to_csv(f, index=False)


def plant(demo_root, root, hadm_ids):
    (root / "hosp").mkdir(parents=True)
    for name in HOSP_TABLES:
        shutil.copy(demo_root / "hosp" / f"{name}.csv.gz", root / "hosp")
    adm = read(root, "admissions").set_index("hadm_id")
    rx, px, lab = [], [], []
    for i, hadm in enumerate(hadm_ids):
        subject, disch = adm.loc[hadm, "subject_id"], pd.Timestamp(adm.loc[hadm, "dischtime"])
        for j, later in enumerate((pd.Timedelta(minutes=1), pd.Timedelta(days=3))):
            when = str(disch + later)
            rx.append({"subject_id": subject, "hadm_id": hadm, "starttime": when,
                       "drug_type": "MAIN", "drug": f"Plantedmycin {i}-{j}"})  # fmt: skip
            lab.append({"labevent_id": str(90_000_000 + 10 * i + j), "subject_id": subject,
                        "hadm_id": hadm, "itemid": "50983", "charttime": when,
                        "value": "777", "valuenum": "777", "flag": "abnormal"})  # fmt: skip
            lab.append({"labevent_id": str(91_000_000 + 10 * i + j), "subject_id": subject,
                        "hadm_id": hadm, "itemid": str(PLANTED_ITEM), "charttime": when,
                        "value": "5", "valuenum": "5"})  # fmt: skip
        px.append({"subject_id": subject, "hadm_id": hadm, "seq_num": "99",
                   "chartdate": str((disch + pd.Timedelta(days=1)).date()),
                   "icd_code": "PLT01", "icd_version": "10"})  # fmt: skip
    append(root, "prescriptions", rx)
    append(root, "procedures_icd", px)
    append(root, "labevents", lab)
    append(root, "d_labitems", [{"itemid": str(PLANTED_ITEM), "label": "Sodium, Planted"}])
    return {"prescriptions": len(rx), "procedures_icd": len(px), "labevents": len(lab)}


def test_post_discharge_rows_reach_no_tensor_or_vocabulary(demo_root, tmp_path, caplog):
    base = prepare_mimic(root=str(demo_root), cache_dir=str(tmp_path / "base"))
    base_entry = cache.cache_root(tmp_path / "base") / base["cache_key"]
    meta = np.load(base_entry / "cohort.npz")
    # Admissions of every split, so the train-only vocabulary and statistics are exercised too.
    hadm_ids = [str(h) for c in (0, 1, 2) for h in meta["hadm_id"][meta["split"] == c][:4]]
    planted = plant(demo_root, tmp_path / "planted", hadm_ids)

    with caplog.at_level(logging.INFO, logger="mmc"):
        got = prepare_mimic(root=str(tmp_path / "planted"), cache_dir=str(tmp_path / "p"))
    entry = cache.cache_root(tmp_path / "p") / got["cache_key"]

    for m in got["modalities"]:
        a, b = np.load(base_entry / f"{m}.npy"), np.load(entry / f"{m}.npy")
        assert a.shape == b.shape and np.array_equal(a, b), m
    for name in ("masks.npz", "cohort.npz"):
        a, b = np.load(base_entry / name), np.load(entry / name)
        assert all(np.array_equal(a[k], b[k]) for k in a.files), name
    vocab = json.loads((entry / "vocabulary.json").read_text())
    assert vocab == json.loads((base_entry / "vocabulary.json").read_text())
    assert not any("plantedmycin" in c or "PLT01" in c for codes in vocab.values() for c in codes)
    feats = json.loads((entry / "lab_features.json").read_text())["features"]
    base_feats = json.loads((base_entry / "lab_features.json").read_text())["features"]
    assert [f["itemid"] for f in feats] == [f["itemid"] for f in base_feats]
    for f, g in zip(feats, base_feats):  # equal up to float summation order
        assert f.keys() == g.keys() and all(
            np.isclose(f[k], g[k], rtol=1e-12, atol=0) if isinstance(f[k], float) else f[k] == g[k]
            for k in f
        )
    assert PLANTED_ITEM not in {f["itemid"] for f in feats}

    # Every planted row is counted as dropped, on top of the demo's own post-discharge rows.
    for table, n in planted.items():
        before = base["events_outside_stay"][table]["dropped_after_discharge"]
        assert got["events_outside_stay"][table]["dropped_after_discharge"] == before + n
    assert base["events_outside_stay"]["prescriptions"]["dropped_after_discharge"] == 83
    # Progress: each stage announced, with its row counts.
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "[5/6] streaming labevents" in text
    assert f"{83 + planted['prescriptions']} after discharge dropped" in text
