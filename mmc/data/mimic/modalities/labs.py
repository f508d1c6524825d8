"""Lab values: MUSE's ten analytes as a sequence of the last `max_steps` measurement times.

Items whose d_labitems label contains one of the keywords (case-sensitive substring, as in
MUSE) are kept: by default every matching item with a numeric value in the training split
(MUSE's selection: 57 items, 114 dims on MIMIC-IV), or only the `max_items` most frequent.
Only measurements inside the stay are used (charttime <= dischtime; MUSE drops later ones).
Per item: value z-scored and its abnormal flag. The z-score uses statistics a sentinel cannot
move: mean and standard deviation of the item's *training-split* values without their lowest
and highest 0.5% (MIMIC holds sentinels such as 999999: one in 10k rows made Sodium's
plain std 10,468). Stored z-values are then clipped to +-10, so a sentinel is one large but
bounded value. Rows are grouped by charttime and carried forward: at each step an item shows its
latest value at or before that time, including values measured before the 50-step window. One
extra channel marks real steps (left padding is 0).

`labevents` is never loaded whole: DuckDB streams the gzip CSV once, keeping only cohort rows
of the matching items; the tensor is then built in blocks of admissions (a fixed number of
bytes each) and appended to an .npy file, so peak memory does not grow with the table.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from mmc.data.mimic.modalities.codes import drop_outside_stay, idx_chunks, stay_status
from mmc.data.mimic.tables import RawTables, duckdb_error

log = logging.getLogger("mmc")
Z_CLIP = 10.0
TRIM = 0.005  # share of each item's training values left out at either end for its statistics
BLOCK_BYTES = 2 << 20  # per float32 working array when building the tensor
STEP_ROWS = 500_000  # lab rows aggregated into steps at a time


def stage_lab_rows(con, raw: RawTables, keywords: list[str]) -> dict:
    """Table `labs_raw`(idx, split, itemid, charttime, valuenum, abn): the one streaming pass."""
    pattern = "|".join(re.escape(k) for k in keywords).replace("'", "''")
    con.execute(
        f"""CREATE OR REPLACE TABLE lab_items AS
            SELECT itemid, any_value(label) AS label FROM {raw.scan("d_labitems")}
            WHERE regexp_matches(label, '{pattern}') GROUP BY itemid"""
    )
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TABLE labs_raw AS
            SELECT c.idx, c.split, l.itemid, l.charttime, l.valuenum,
                   coalesce(lower(trim(l.flag)) = 'abnormal', false) AS abn,
                   {stay_status("l.charttime")} AS status
            FROM {raw.scan("labevents")} l
            JOIN cohort c ON l.hadm_id = c.hadm_id
            WHERE l.itemid IN (SELECT itemid FROM lab_items)
              AND l.valuenum IS NOT NULL
            """
        )
    except Exception as e:  # duckdb.Error
        raise duckdb_error(e, raw.paths["labevents"], "lab events") from None
    # NaN/inf values cannot be z-scored: dropped, but counted and reported, not silently.
    dropped, nonfinite = drop_outside_stay(con, "labs_raw", valid="isfinite(valuenum)")
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
        **dropped,
    }


def item_chunks(con, rows: int) -> list[list[int]]:
    """Item ids with training values in groups of about `rows` training rows (an item with
    more alone); one empty group when there are none."""
    per = con.execute(
        "SELECT itemid, count(*) AS n FROM labs_raw WHERE split = 0 GROUP BY itemid ORDER BY itemid"
    ).fetchall()
    groups: list[list[int]] = [[]]
    size = 0
    for itemid, n in per:
        if groups[-1] and size + n > rows:
            groups.append([])
            size = 0
        groups[-1].append(int(itemid))
        size += n
    return groups


def select_features(con, max_items: int | None) -> list[dict]:
    """Matching items with training values (all, or the `max_items` most frequent), with their
    sentinel-robust training statistics and the SD of their clipped training z-values."""
    limit = "" if max_items is None else f"QUALIFY k < {int(max_items)}"
    # Trimmed by rank: the floor(n * TRIM) lowest and highest training values of each item are
    # left out. A window sort spills to disk, where an exact quantile aggregate would have to
    # hold every value of an item in memory (tens of millions on full MIMIC-IV). The window
    # runs over a few items at a time (a partition is one item): sorting every item's values
    # at once was the largest remaining stage at 30M lab rows.
    stats = f"""
        WITH r AS (
            SELECT itemid, valuenum,
                   row_number() OVER (PARTITION BY itemid ORDER BY valuenum) AS rn,
                   count(*) OVER (PARTITION BY itemid) AS cnt
            FROM labs_raw WHERE split = 0 AND itemid IN ({{items}})
        )
        SELECT itemid, any_value(cnt) AS cnt, stddev_pop(valuenum) AS raw_std,
               avg(valuenum) FILTER (trimmed) AS mean,
               coalesce(nullif(stddev_pop(valuenum) FILTER (trimmed), 0), 1) AS std,
               min(valuenum) FILTER (trimmed) AS lo, max(valuenum) FILTER (trimmed) AS hi
        FROM (SELECT *, rn > floor(cnt * {TRIM}) AND rn <= cnt - floor(cnt * {TRIM})
                        AS trimmed FROM r)
        GROUP BY itemid
    """
    for i, items in enumerate(item_chunks(con, STEP_ROWS)):
        into = "INSERT INTO lab_stats" if i else "CREATE OR REPLACE TABLE lab_stats AS"
        con.execute(f"{into} {stats.format(items=', '.join(map(str, items)) or 'NULL')}")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE lab_feat AS
        SELECT s.itemid, i.label, s.mean, s.std, s.cnt, s.lo, s.hi, s.raw_std,
               CAST(row_number() OVER (ORDER BY s.cnt DESC, s.itemid) - 1 AS INTEGER) AS k
        FROM lab_stats s JOIN lab_items i USING (itemid)
        {limit}
        """
    )
    zsd = dict(
        con.execute(
            f"""SELECT f.itemid, stddev_pop(greatest(least((r.valuenum - f.mean) / f.std,
                       {Z_CLIP}), -{Z_CLIP}))
                FROM labs_raw r JOIN lab_feat f USING (itemid) WHERE r.split = 0
                GROUP BY f.itemid"""
        ).fetchall()
    )
    feats = con.execute(
        "SELECT itemid, label, mean, std, cnt, lo, hi, raw_std FROM lab_feat ORDER BY k"
    ).fetchdf()
    return [
        {"itemid": int(r.itemid), "label": str(r.label), "mean": float(r.mean), "std": float(r.std),
         "train_rows": int(r.cnt), "trim_low": float(r.lo), "trim_high": float(r.hi),
         # Diagnostics: the plain std a sentinel would have set, and the SD of the stored
         # (clipped) training z-values, which robust statistics keep near 1.
         "untrimmed_std": float(r.raw_std) if r.raw_std == r.raw_std else None,
         "train_z_sd": float(zsd[r.itemid]) if zsd.get(r.itemid) is not None else None}
        for r in feats.itertuples()
    ]  # fmt: skip


def stage_steps(con, max_steps: int) -> None:
    """Table `lab_steps`(idx, k, srk, z, abn): srk 1 = latest time; srk = max_steps + 1 holds
    each item's last value before the window (what is carried into it).

    Built one chunk of admissions at a time (every window and group is within one admission):
    aggregating and ranking all lab rows at once filled the whole memory_limit at 30M rows,
    a chunk's state has a fixed size."""
    steps = f"""
        WITH agg AS (
            SELECT r.idx, r.charttime, f.k,
                   greatest(least((avg(r.valuenum) - any_value(f.mean)) / any_value(f.std), {Z_CLIP}), -{Z_CLIP}) AS z,
                   max(r.abn::INTEGER) AS abn
            FROM labs_raw r JOIN lab_feat f USING (itemid)
            WHERE r.idx >= {{start}} AND r.idx < {{stop}}
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
    for i, (start, stop) in enumerate(idx_chunks(con, "labs_raw", STEP_ROWS)):
        into = "CREATE OR REPLACE TABLE lab_steps AS" if i == 0 else "INSERT INTO lab_steps"
        con.execute(f"{into} {steps.format(start=start, stop=stop)}")


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
    # Admissions per block: a fixed byte budget, so memory depends on neither n nor the table.
    per_block = max(1, BLOCK_BYTES // (4 * (max_steps + 1) * (2 * n_items + 1)))
    mask = np.zeros(n, dtype=bool)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(
            f, {"descr": np.dtype(np.float16).str, "fortran_order": False, "shape": shape}
        )
        for start in range(0, n, per_block):
            stop = min(start + per_block, n)
            rows = con.execute(
                f"SELECT idx, k, srk, z, abn FROM lab_steps WHERE idx >= {start} AND idx < {stop}"
            ).fetchnumpy()
            rows = {key: np.asarray(v) for key, v in rows.items()}
            block = fill_block(rows, start, stop - start, n_items, max_steps)
            mask[start:stop] = block[:, -1, -1] > 0
            f.write(block.astype(np.float16).tobytes())
    return mask
