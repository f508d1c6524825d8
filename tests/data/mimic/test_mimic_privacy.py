"""Privacy: a W&B offline run on the demo writes and prints aggregates only, never row-level data.

Every file the run writes (W&B's offline run folder included) and everything it prints is
scanned for the demo's identifiers (subject_id, hadm_id), drug names, diagnosis titles and
vocabulary codes of the cohort.
"""

import gzip
import logging

import pandas as pd
from mimic_helpers import mimic_overrides

from mmc.train import train


def row_level_tokens(root) -> set[str]:
    def read(name, cols):
        with gzip.open(root / "hosp" / f"{name}.csv.gz", "rt") as f:
            return pd.read_csv(f, usecols=cols, dtype=str)

    adm = read("admissions", ["subject_id", "hadm_id"])
    tokens = set(adm.subject_id) | set(adm.hadm_id)
    drugs = read("prescriptions", ["hadm_id", "drug"])
    tokens |= {d.strip().lower() for d in drugs.drug.dropna() if len(d.strip()) >= 8}
    dx = read("diagnoses_icd", ["icd_code", "icd_version"])
    titles = read("d_icd_diagnoses", ["icd_code", "icd_version", "long_title"])
    used = titles.merge(dx.drop_duplicates(), on=["icd_code", "icd_version"])
    tokens |= {t.lower() for t in used.long_title if len(t) >= 12}
    tokens |= {f"{v}:{c}" for c, v in zip(dx.icd_code, dx.icd_version) if len(c) >= 4}
    return tokens


def leaks(blob: str, tokens: set[str]) -> list[str]:
    return sorted(t for t in tokens if t in blob)


def test_wandb_offline_run_on_the_demo_holds_no_row_level_data(
    compose, demo_root, demo_cache, tmp_path, monkeypatch, capsys, caplog
):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = tmp_path / "run"
    overrides = mimic_overrides(demo_root, demo_cache, "logger=wandb", "logger.mode=offline")
    with caplog.at_level(logging.DEBUG, logger="mmc"):
        summary = train(compose(*overrides, tiny=False, run_dir=run_dir))
    assert summary["status"] == "completed"
    assert list((run_dir / "wandb").glob("offline-run-*")), "the W&B offline run was not written"

    tokens = row_level_tokens(demo_root)
    assert len(tokens) > 500
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files)
    written = "\n".join(p.read_bytes().decode("utf-8", errors="ignore").lower() for p in files)
    assert leaks(written, tokens) == []
    out = capsys.readouterr()
    printed = (out.out + out.err + "\n".join(r.getMessage() for r in caplog.records)).lower()
    assert leaks(printed, tokens) == []
    # The scan does find a token when one is there (the check can fail).
    sample = sorted(tokens)[0]
    assert leaks(written + sample, tokens) == [sample]
    # ...and the aggregates did reach the record.
    assert '"admissions": 201' in (run_dir / "summary.json").read_text()
