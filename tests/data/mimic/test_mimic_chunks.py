"""The chunked steps (code ranking, lab steps, lab statistics, code-id blocks) give exactly the
files of a single chunk: the chunk sizes only bound memory."""

import pytest

from mmc.data.mimic.modalities import codes, labs
from mmc.data.mimic.prepare import prepare_mimic

pytest.importorskip("duckdb")


def entry_files(cache_dir):
    (entry,) = [p for p in (cache_dir / "mimic").iterdir() if p.is_dir()]
    return {p.name: p.read_bytes() for p in entry.iterdir() if p.name != "summary.json"}


def test_tiny_chunks_give_the_same_files(tmp_path, make_tables, monkeypatch):
    root = make_tables(tmp_path / "tables", lab_rows=20_000)
    prepare_mimic(root=str(root), cache_dir=str(tmp_path / "one"), threads=1)
    # every admission (and every lab item) its own chunk, a few admissions per id block
    monkeypatch.setattr(codes, "RANK_ROWS", 1)
    monkeypatch.setattr(codes, "BLOCK_BYTES", 1000)
    monkeypatch.setattr(labs, "STEP_ROWS", 1)
    prepare_mimic(root=str(root), cache_dir=str(tmp_path / "many"), threads=1)
    one, many = entry_files(tmp_path / "one"), entry_files(tmp_path / "many")
    assert one.keys() == many.keys()
    assert [name for name in one if one[name] != many[name]] == []
