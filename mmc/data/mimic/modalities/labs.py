"""Lab values: MUSE's ten analytes as a sequence of the last `max_steps` measurement times.

Items whose d_labitems label contains one of the keywords (case-sensitive substring, as in
MUSE) are kept; of those, the `max_items` most frequent in the training split become features.
Per item: value z-scored with training-split mean/std (clipped to +-10: MIMIC has sentinel
values such as 999999) and its abnormal flag. Rows are grouped by charttime and carried
forward: at each step an item shows its latest value at or before that time, including values
measured before the 50-step window. One extra channel marks real steps (left padding is 0).

`labevents` is never loaded whole: DuckDB streams the gzip CSV once, keeping only cohort rows
of the selected items; the tensor is then built in blocks of admissions and appended to an
.npy file, so peak memory does not grow with the table.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from mmc.data.mimic.tables import RawTables, duckdb_error

log = logging.getLogger("mmc")
Z_CLIP = 10.0
BLOCK = 8192  # admissions per block when building the tensor


def stage_lab_rows(con, raw: RawTables, keywords: list[str]) -> dict:
    """Table `labs_raw`(idx, split, itemid, charttime, valuenum, abn): the one streaming pass."""
    pattern = "|".join(re.escape(k) for k in keywords).replace("'", "''")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE lab_items AS
            SELECT DISTINCT itemid, label FROM {raw.scan("d_labitems")}
            WHERE regexp_matches(label, '{pattern}')"""
    )
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TABLE labs_raw AS
            SELECT c.idx, c.split, l.itemid, l.charttime, l.valuenum,
                   coalesce(lower(trim(l.flag)) = 'abnormal', false) AS abn
            FROM {raw.scan("labevents")} l
            JOIN cohort c ON l.hadm_id = c.hadm_id
            WHERE l.itemid IN (SELECT itemid FROM lab_items)
              AND l.valuenum IS NOT NULL AND l.charttime IS NOT NULL
            """
        )
        # NaN/inf values cannot be z-scored: dropped, but counted and reported, not silently.
        nonfinite = con.execute(
            "SELECT count(*) FROM labs_raw WHERE NOT isfinite(valuenum)"
        ).fetchone()[0]
        con.execute("DELETE FROM labs_raw WHERE NOT isfinite(valuenum)")
    except Exception as e:  # duckdb.Error
        raise duckdb_error(e, raw.paths["labevents"], "lab events") from None
    if nonfinite:
        log.warning(
            "MIMIC-IV labevents (%s): %d lab value(s) of the cohort are NaN or infinite and "
            "were dropped; check the file if this is unexpected",
            raw.paths["labevents"],
            nonfinite,
        )
    n_items = con.execute("SELECT count(*) FROM lab_items").fetchone()[0]
    kept = con.execute("SELECT count(*) FROM labs_raw").fetchone()[0]
    return {
        "matching_items": int(n_items),
        "rows_kept": int(kept),
        "nonfinite_dropped": int(nonfinite),
    }


def select_features(con, max_items: int) -> list[dict]:
    """The `max_items` items most frequent in training rows, with their training mean/std."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lab_feat AS
        SELECT s.itemid, i.label, s.mean, s.std, s.cnt,
               CAST(row_number() OVER (ORDER BY s.cnt DESC, s.itemid) - 1 AS INTEGER) AS k
        FROM (SELECT itemid, count(*) AS cnt, avg(valuenum) AS mean,
                     coalesce(nullif(stddev_pop(valuenum), 0), 1) AS std
              FROM labs_raw WHERE split = 0 GROUP BY itemid) s
        JOIN lab_items i USING (itemid)
        QUALIFY k < {int(max_items)}
        """
    )
    feats = con.execute("SELECT itemid, label, mean, std, cnt FROM lab_feat ORDER BY k").fetchdf()
    return [
        {"itemid": int(r.itemid), "label": str(r.label), "mean": float(r.mean), "std": float(r.std),
         "train_rows": int(r.cnt)}
        for r in feats.itertuples()
    ]  # fmt: skip


def stage_steps(con, max_steps: int) -> None:
    """Table `lab_steps`(idx, k, srk, z, abn): srk 1 = latest time; srk = max_steps + 1 holds
    each item's last value before the window (what is carried into it)."""
    con.execute(
        f"""
        CREATE OR REPLACE TABLE lab_steps AS
        WITH agg AS (
            SELECT r.idx, r.charttime, f.k,
                   greatest(least((avg(r.valuenum) - any_value(f.mean)) / any_value(f.std), {Z_CLIP}), -{Z_CLIP}) AS z,
                   max(r.abn::INTEGER) AS abn
            FROM labs_raw r JOIN lab_feat f USING (itemid)
            GROUP BY r.idx, r.charttime, f.k
        ), ranked AS (
            SELECT *, dense_rank() OVER (PARTITION BY idx ORDER BY charttime DESC) AS srk FROM agg
        )
        SELECT idx, k, srk, z, abn FROM ranked WHERE srk <= {max_steps}
        UNION ALL
        SELECT idx, k, {max_steps + 1} AS srk, arg_max(z, charttime), arg_max(abn, charttime)
        FROM ranked WHERE srk > {max_steps} GROUP BY idx, k
        ORDER BY idx
        """
    )


def fill_block(
    rows: dict[str, np.ndarray], start: int, n: int, n_items: int, max_steps: int
) -> np.ndarray:
    """[n, max_steps, 2 * n_items + 1] for admissions start..start+n, carried forward."""
    slots = max_steps + 1  # slot 0: carried in from before the window; slot j: srk = slots - j
    val = np.full((n, slots, n_items), np.nan, dtype=np.float32)
    abn = np.zeros((n, slots, n_items), dtype=np.float32)
    i = rows["idx"] - start
    j = slots - rows["srk"]
    val[i, j, rows["k"]] = rows["z"]
    abn[i, j, rows["k"]] = rows["abn"]
    # Forward fill along time: each slot takes the latest earlier slot that has a value.
    pos = np.where(np.isnan(val), 0, np.arange(slots, dtype=np.int32)[None, :, None])
    np.maximum.accumulate(pos, axis=1, out=pos)
    val = np.take_along_axis(val, pos, axis=1)
    abn = np.take_along_axis(abn, pos, axis=1)
    never = np.isnan(val)
    val[never] = 0.0
    abn[never] = 0.0
    steps = np.zeros(n, dtype=np.int64)
    in_window = rows["srk"] <= max_steps
    np.maximum.at(steps, i[in_window], rows["srk"][in_window])
    present = (np.arange(1, slots)[None, :] >= (slots - steps)[:, None]).astype(np.float32)
    out = np.empty((n, max_steps, 2 * n_items + 1), dtype=np.float32)
    out[:, :, 0:n_items] = val[:, 1:]
    out[:, :, n_items : 2 * n_items] = abn[:, 1:]
    out[:, :, -1] = present
    return out


def write_lab_tensor(con, path: Path, n: int, n_items: int, max_steps: int) -> np.ndarray:
    """Stream the tensor to `path` (.npy, float16) block by block; return the observed mask."""
    shape = (n, max_steps, 2 * n_items + 1)
    mask = np.zeros(n, dtype=bool)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(
            f, {"descr": np.dtype(np.float16).str, "fortran_order": False, "shape": shape}
        )
        for start in range(0, n, BLOCK):
            stop = min(start + BLOCK, n)
            rows = con.execute(
                f"SELECT idx, k, srk, z, abn FROM lab_steps WHERE idx >= {start} AND idx < {stop}"
            ).fetchnumpy()
            rows = {key: np.asarray(v) for key, v in rows.items()}
            block = fill_block(rows, start, stop - start, n_items, max_steps)
            mask[start:stop] = block[:, -1, -1] > 0
            f.write(block.astype(np.float16).tobytes())
    return mask
