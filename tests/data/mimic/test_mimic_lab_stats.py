"""Lab z-scores whose statistics a sentinel value (999999) cannot move."""

import gzip
import json

import numpy as np
import pandas as pd

from mmc.data.mimic import cache
from mmc.data.mimic.prepare import prepare_mimic

SENTINEL = 999999.0


def test_stored_training_z_values_keep_unit_sd_despite_sentinels(make_tables, tmp_path):
    root = make_tables(tmp_path / "gen", lab_rows=300_000, seed=3, sentinel_share=1e-3)
    summary = prepare_mimic(root=str(root), cache_dir=str(tmp_path / "cache"))
    entry = cache.cache_root(tmp_path / "cache") / summary["cache_key"]
    feats = json.loads((entry / "lab_features.json").read_text())["features"]
    meta = np.load(entry / "cohort.npz")
    x = np.load(entry / "labs.npy").astype(np.float32)
    train = meta["split"] == 0

    with gzip.open(root / "hosp" / "labevents.csv.gz", "rt") as f:
        lab = pd.read_csv(f, usecols=["hadm_id", "itemid", "charttime", "valuenum"]).dropna()
    lab = lab[lab.hadm_id.isin(meta["hadm_id"][train])]
    row_of = {h: i for i, h in enumerate(meta["hadm_id"])}
    with_sentinel = 0
    for k, f in enumerate(feats):
        vals = lab.loc[lab.itemid == f["itemid"], "valuenum"]
        assert len(vals) == f["train_rows"] > 50
        # The diagnostic the preparation stores: SD of the clipped training z-values.
        assert 0.8 <= f["train_z_sd"] <= 1.2, f
        # The same from an independent reading of the raw rows with the stored statistics.
        z = np.clip((vals - f["mean"]) / f["std"], -10, 10)
        assert 0.8 <= z.std() <= 1.2, f
        # And from the tensor itself: each training admission's latest value of the item, where
        # that latest time holds one row (several rows at one time are averaged into a step).
        item = lab[lab.itemid == f["itemid"]]
        last = item[item.charttime == item.groupby("hadm_id").charttime.transform("max")]
        single = last.hadm_id.value_counts()
        last = last[last.hadm_id.isin(single.index[single == 1])]
        rows = np.array([row_of[h] for h in last.hadm_id])
        is_sentinel = (last.valuenum == SENTINEL).to_numpy()
        assert (x[rows[is_sentinel], -1, k] == 10).all()  # a sentinel is one clipped value
        stored = x[rows[~is_sentinel], -1, k]
        assert len(stored) > 100 and 0.8 <= stored.std() <= 1.2, (f, stored.std())
        if (vals == SENTINEL).any():
            with_sentinel += 1
            # Plain mean/std would have flattened every z-value (what the fix is for).
            plain = np.clip((vals - vals.mean()) / vals.std(ddof=0), -10, 10)
            assert plain.std() < 0.5 and f["untrimmed_std"] > 50 * f["std"]
    assert with_sentinel >= 3  # the data really holds sentinels in several items' training rows
    lo, hi = summary["details"]["labs"]["train_z_sd_range"]
    assert 0.8 <= lo <= hi <= 1.2
