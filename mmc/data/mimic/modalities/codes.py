"""Code modalities: diagnoses, procedures, medications, as the last `max_len` codes per admission.

Order follows MUSE: diagnoses by seq_num, procedures by chartdate, prescriptions by start time.
Only events inside the stay are kept (as MUSE and PyHealth do): a procedure whose chartdate or a
prescription whose starttime is after the admission's `dischtime` is dropped, and so is one
with no time at all (MUSE drops rows with a missing timestamp). Later rows can belong to the
patient's next admission: as the latest codes they would survive the last-50 cut and leak the
readmission label. Diagnoses carry no time and are all kept. Events before `admittime` are
kept, as in MUSE. Rows repeating an admission's code at the same time (MIMIC lists some
prescriptions several times, e.g. one per pharmacy fill) count once, as MUSE's drop_duplicates.
Two representations:
- "ids" (default): integer ids into a vocabulary built from the training split only (0 pad,
  1 = code not seen in training), for a learned embedding;
- "titles": the mean of frozen text embeddings of the codes' titles (ICD long titles, drug
  names), a fixed-size vector. Titles come from the public dictionaries, so every code gets
  one and nothing is learned from val/test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mmc.data.mimic.tables import RawTables, duckdb_error

PAD, OOV = 0, 1
BLOCK_BYTES = 1 << 19  # of the id array written at a time
RANK_ROWS = 250_000  # event rows grouped and ranked at a time

# Per modality: source table, title dictionary, code expression, sort keys (oldest first),
# event time (None: untimed, always in the stay).
CODE_SOURCES = {
    "diagnoses": {
        "table": "diagnoses_icd",
        "dictionary": "d_icd_diagnoses",
        "code": "CAST(t.icd_version AS VARCHAR) || ':' || trim(t.icd_code)",
        "keys": ("t.seq_num", "0"),
        "time": None,
    },
    "procedures": {
        "table": "procedures_icd",
        "dictionary": "d_icd_procedures",
        "code": "CAST(t.icd_version AS VARCHAR) || ':' || trim(t.icd_code)",
        "keys": ("t.chartdate", "t.seq_num"),
        "time": "CAST(t.chartdate AS TIMESTAMP)",  # midnight of the day, as MUSE compares it
    },
    "medications": {
        "table": "prescriptions",
        "dictionary": None,
        "code": "lower(trim(t.drug))",
        "keys": ("t.starttime", "0"),
        "time": "t.starttime",
    },
}
IN_STAY, AFTER_DISCHARGE, UNTIMED = 0, 1, 2


def stay_status(time_sql: str | None) -> str:
    """SQL for an event's place relative to its stay (needs the cohort alias `c`)."""
    if time_sql is None:
        return str(IN_STAY)
    return (
        f"CASE WHEN {time_sql} IS NULL THEN {UNTIMED} "
        f"WHEN {time_sql} > c.dischtime THEN {AFTER_DISCHARGE} ELSE {IN_STAY} END"
    )


def drop_outside_stay(
    con, table: str, rows: str | None = None, valid: str | None = None
) -> tuple[dict[str, int], int]:
    """Drop the rows of `table` whose `status` is not in-stay (and those failing the SQL
    condition `valid`); return how many raw rows were dropped as outside the stay (`rows`: a
    column counting the raw rows each table row stands for) and how many table rows failed
    `valid` (counted first: an invalid row is not also counted as outside the stay)."""
    n = f"sum({rows})" if rows else "count(*)"
    ok = valid or "true"
    after, untimed, invalid = con.execute(
        f"SELECT coalesce({n} FILTER (status = {AFTER_DISCHARGE} AND {ok}), 0), "
        f"coalesce({n} FILTER (status = {UNTIMED} AND {ok}), 0), "
        f"count(*) FILTER (NOT ({ok})) FROM {table}"
    ).fetchone()
    if after or untimed or invalid:
        keep_rows(con, table, f"status = {IN_STAY} AND {ok}")
    return {"dropped_after_discharge": int(after), "dropped_untimed": int(untimed)}, int(invalid)


def keep_rows(con, table: str, condition: str) -> None:
    """Replace `table` by its rows meeting `condition`: one streaming copy. A DELETE would
    keep the deleted rows' storage and version information until the table is dropped, in
    memory while the stage runs (tens of MB for the lab rows of a large table)."""
    con.execute(f"CREATE OR REPLACE TABLE {table}__kept AS SELECT * FROM {table} WHERE {condition}")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE {table}__kept RENAME TO {table}")


def idx_chunks(con, table: str, rows: int) -> list[tuple[int, int]]:
    """Consecutive admission ranges [start, stop) of `table` holding about `rows` rows each
    (more for an admission with more rows alone); at least one range, also for no rows."""
    per = con.execute(
        f"SELECT idx, count(*) AS n FROM {table} GROUP BY idx ORDER BY idx"
    ).fetchnumpy()
    idx, n = np.asarray(per["idx"], dtype=np.int64), np.asarray(per["n"], dtype=np.int64)
    if len(idx) == 0:
        return [(0, 1)]
    # chunk number of each admission from the running row count; a range ends where it changes
    chunk = (np.cumsum(n) - n) // max(1, rows)
    firsts = np.flatnonzero(np.diff(chunk, prepend=-1))
    starts = idx[firsts].tolist()
    return list(zip(starts, [*starts[1:], int(idx[-1]) + 1]))


def stage_events(con, modality: str, raw: RawTables) -> dict[str, int]:
    """Tables `ev_<modality>`(idx, split, cid, status, n_rows, rk): every in-stay cohort code,
    rk = 1 the latest, and `codes_<modality>`(cid, code, title): its distinct codes, cid in
    code order. Returns how many cohort rows were dropped as outside the stay."""
    src = CODE_SOURCES[modality]
    version = "t.icd_version" if src["dictionary"] else "NULL"
    raw_code = "trim(t.icd_code)" if src["dictionary"] else "NULL"
    k1, k2 = src["keys"]
    # Separate statements, each reading a table DuckDB can size and spill: the cohort rows of
    # the file are written out first (as one statement, grouping straight off the CSV scan ran
    # out of 96MB on the 2.8M prescriptions of the 30M-lab-row tables); then the distinct codes
    # get integer ids (cid) and their titles, once per code instead of once per row; then rows
    # are grouped and ranked on the integer ids, whose hash tables and sort keys are a fraction
    # of the strings' size. cid follows code order, so ranking ties broken by cid are broken
    # exactly as by the code string. rk is numbered within (admission, status), so after the
    # out-of-stay rows are dropped the in-stay ranks are those of a table that never had them.
    rows = f"""
        CREATE OR REPLACE TABLE ev_{modality}_rows AS
        SELECT c.idx, c.split, {src["code"]} AS code, {version} AS icd_version,
               {raw_code} AS raw_code, {k1} AS k1, {k2} AS k2,
               {stay_status(src["time"])} AS status
        FROM {raw.scan(src["table"])} t JOIN cohort c ON t.hadm_id = c.hadm_id
    """
    title, join = "e.code", ""
    if src["dictionary"]:
        join = (
            "LEFT JOIN (SELECT icd_version, trim(icd_code) AS icd_code, any_value(long_title) AS long_title "
            f"FROM {raw.scan(src['dictionary'])} GROUP BY ALL) d "
            "ON d.icd_version = e.icd_version AND d.icd_code = e.raw_code"
        )
        title = "coalesce(d.long_title, e.code)"
    # (icd_version, raw_code) are a function of the code string: one row per code.
    code_table = f"""
        CREATE OR REPLACE TABLE codes_{modality} AS
        SELECT CAST(row_number() OVER (ORDER BY e.code) AS INTEGER) AS cid, e.code, {title} AS title
        FROM (SELECT DISTINCT code, icd_version, raw_code FROM ev_{modality}_rows
              WHERE code IS NOT NULL AND code <> '') e {join}
    """
    ranked = f"""
        SELECT e.idx, e.split, e.cid, e.status, e.n_rows,
               row_number() OVER (PARTITION BY e.idx, e.status ORDER BY e.k1 DESC NULLS LAST,
                                  e.k2 DESC NULLS LAST, e.cid DESC) AS rk
        FROM (SELECT r.idx, r.split, c.cid, r.k1, r.k2, r.status, count(*) AS n_rows
              FROM ev_{modality}_rows r JOIN codes_{modality} c USING (code)
              WHERE r.idx >= {{start}} AND r.idx < {{stop}} GROUP BY ALL) e
    """
    try:
        con.execute(rows)
        con.execute(code_table)
        # One thread for the ranking: each thread builds its own partitions and sort state,
        # so memory for the window grows with threads; the sort of integer keys is quick.
        threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
        con.execute("SET threads=1")
        # Ranked one chunk of admissions at a time (a window partition never spans two):
        # grouping and sorting all rows at once filled the whole memory_limit on the 2.8M
        # prescriptions of the 30M-lab-row tables, a chunk's state has a fixed size.
        for i, (start, stop) in enumerate(idx_chunks(con, f"ev_{modality}_rows", RANK_ROWS)):
            into = (
                f"INSERT INTO ev_{modality}" if i else f"CREATE OR REPLACE TABLE ev_{modality} AS"
            )
            con.execute(f"{into} {ranked.format(start=start, stop=stop)}")
        con.execute(f"SET threads={int(threads)}")
    except Exception as e:  # duckdb.Error: a malformed value somewhere in the file
        raise duckdb_error(e, raw.paths[src["table"]], f"{modality} codes") from None
    con.execute(f"DROP TABLE ev_{modality}_rows")
    return drop_outside_stay(con, f"ev_{modality}", rows="n_rows")[0]


def code_ids(
    con, modality: str, path: Path, n: int, max_len: int, min_count: int, block: int | None = None
) -> dict:
    """Write [n, max_len] int32 ids (right-aligned, latest last) to `path` (.npy); return the
    vocabulary facts.

    Written block by block of admissions (`block` of them, default a fixed byte budget), so
    the whole array is never in memory: it is 85 MB per modality on a full-MIMIC cohort."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE vocab_{modality} AS
        SELECT cid, row_number() OVER (ORDER BY cnt DESC, cid) + 1 AS id, cnt
        FROM (SELECT cid, count(*) AS cnt FROM ev_{modality} WHERE split = 0 GROUP BY cid)
        WHERE cnt >= {int(min_count)}
        """
    )
    block = block or max(1, BLOCK_BYTES // (4 * max_len))
    kept = oov = 0
    with open(path, "wb") as f:
        # Version 1.0, as np.save writes it: the file is the same as saving the whole array.
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.dtype(np.int32).str, "fortran_order": False, "shape": (n, max_len)}
        )
        for start in range(0, n, block):
            stop = min(start + block, n)
            rows = con.execute(
                f"""
                SELECT e.idx, {max_len} - e.rk AS pos, coalesce(v.id, {OOV}) AS id
                FROM ev_{modality} e LEFT JOIN vocab_{modality} v USING (cid)
                WHERE e.rk <= {max_len} AND e.idx >= {start} AND e.idx < {stop}
                """
            ).fetchnumpy()
            x = np.zeros((stop - start, max_len), dtype=np.int32)
            ids = np.asarray(rows["id"])
            x[np.asarray(rows["idx"]) - start, np.asarray(rows["pos"])] = ids
            kept += len(ids)
            oov += int((ids == OOV).sum())
            f.write(x.tobytes())
    vocab_size = int(con.execute(f"SELECT count(*) FROM vocab_{modality}").fetchone()[0]) + 2
    return {"vocab_size": vocab_size, "codes_kept": kept, "codes_unseen_in_train": oov}


def vocabulary(con, modality: str) -> list[str]:
    """Code strings by id (ids 0 and 1 are padding and unseen): kept only in the local cache."""
    codes = con.execute(
        f"SELECT c.code FROM vocab_{modality} v JOIN codes_{modality} c USING (cid) ORDER BY v.id"
    ).fetchnumpy()["code"]
    return ["<pad>", "<unseen>", *map(str, codes)]


def code_titles(con, modality: str, n: int, max_len: int, embed) -> tuple[np.ndarray, dict]:
    """[n, dim] float32: mean title embedding of each admission's last `max_len` codes."""
    titled = f"ev_{modality} e JOIN codes_{modality} c USING (cid)"
    titles = con.execute(
        f"SELECT DISTINCT c.title FROM {titled} WHERE e.rk <= {max_len} ORDER BY c.title"
    ).fetchnumpy()["title"]
    con.register("titles_tmp", {"title": titles, "tid": np.arange(len(titles))})
    rows = con.execute(
        f"SELECT e.idx, t.tid FROM {titled} JOIN titles_tmp t USING (title) WHERE e.rk <= {max_len}"
    ).fetchnumpy()
    con.unregister("titles_tmp")
    table = embed([str(t) for t in titles]) if len(titles) else np.zeros((0, embed.dim), np.float32)
    counts = sp.csr_matrix(
        (np.ones(len(rows["idx"]), dtype=np.float32), (rows["idx"], rows["tid"])),
        shape=(n, len(titles)),
    )
    per_adm = np.asarray(counts.sum(axis=1)).ravel()
    x = np.asarray(counts @ table) / np.maximum(per_adm, 1)[:, None]
    return x.astype(np.float32), {"titles": int(len(titles)), "codes_kept": int(len(rows["idx"]))}


def observed(con, modality: str, n: int) -> np.ndarray:
    idx = con.execute(f"SELECT DISTINCT idx FROM ev_{modality}").fetchnumpy()["idx"]
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return mask
