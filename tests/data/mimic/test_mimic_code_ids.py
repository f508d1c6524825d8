"""Code ids are written block by block of admissions: the file must equal the whole array."""

import numpy as np
import pytest

from mmc.data.mimic.modalities.codes import OOV, code_ids

duckdb = pytest.importorskip("duckdb")


def events(con, n: int, seed: int = 0) -> None:
    """Small ev_medications / codes_medications tables as stage_events writes them: random
    codes, ranks 1..k per admission, some admissions without codes, some codes only outside
    the training split."""
    rng = np.random.default_rng(seed)
    rows = []
    for idx in range(n):
        if idx % 7 == 3:
            continue  # no codes: a row of padding
        k = int(rng.integers(1, 12))
        split = int(rng.integers(0, 3))
        rows += [(idx, split, f"c{int(rng.zipf(1.5)) % 40}", rk) for rk in range(1, k + 1)]
    idx, split, code, rk = (np.array(c) for c in zip(*rows))
    con.register("ev_df", {"idx": idx, "split": split, "code": code, "rk": rk})
    con.execute(
        """CREATE TABLE codes_medications AS SELECT row_number() OVER (ORDER BY code) AS cid,
           code FROM (SELECT DISTINCT code FROM ev_df)"""
    )
    con.execute(
        """CREATE TABLE ev_medications AS SELECT e.idx, e.split, c.cid, e.code, e.rk
           FROM ev_df e JOIN codes_medications c USING (code)"""
    )


def whole(con, n: int, max_len: int, min_count: int) -> np.ndarray:
    """The reference: the whole [n, max_len] array filled from one query."""
    vocab = con.execute(
        f"""SELECT code, row_number() OVER (ORDER BY cnt DESC, code) + 1 AS id FROM
            (SELECT code, count(*) AS cnt FROM ev_medications WHERE split = 0 GROUP BY code)
            WHERE cnt >= {min_count}"""
    ).fetchall()
    ids = dict(vocab)
    x = np.zeros((n, max_len), dtype=np.int32)
    for idx, code, rk in con.execute("SELECT idx, code, rk FROM ev_medications").fetchall():
        if rk <= max_len:
            x[idx, max_len - rk] = ids.get(code, OOV)
    return x


@pytest.mark.parametrize("block", [1, 4, 7, 50, None])
def test_blockwise_file_equals_the_whole_array(tmp_path, block):
    n, max_len = 23, 5
    con = duckdb.connect()
    events(con, n)
    path = tmp_path / "medications.npy"
    facts = code_ids(con, "medications", path, n, max_len, min_count=2, block=block)
    expected = whole(con, n, max_len, min_count=2)
    np.testing.assert_array_equal(np.load(path), expected)
    assert facts["codes_kept"] == int((expected > 0).sum())
    assert facts["codes_unseen_in_train"] == int((expected == OOV).sum())
    # byte for byte what np.save writes for the whole array
    ref = tmp_path / "ref.npy"
    np.save(ref, expected)
    assert path.read_bytes() == ref.read_bytes()
