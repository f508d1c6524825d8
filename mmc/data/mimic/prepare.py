"""Raw MIMIC-IV gzip CSVs -> a cached, training-ready data set (`mmc prepare dataset=mimic`).

One DuckDB connection does all the table work out of core (memory capped by
`memory_limit`, spilling to the build folder); Python only ever sees per-admission results.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmc.data.mimic import cache
from mmc.data.mimic.cohort import CohortRules, read_admissions, select_cohort
from mmc.data.mimic.labels import TASKS, label_counts
from mmc.data.mimic.modalities import codes, labs, notes
from mmc.data.mimic.modalities.demographics import demographics
from mmc.data.mimic.patterns import pattern_counts
from mmc.data.mimic.split import SPLITS, assign_splits
from mmc.data.mimic.tables import RawTables, require_duckdb
from mmc.data.mimic.text import PACKAGED, TextEmbedder
from mmc.errors import ConfigError, DataError, check, choices_error

log = logging.getLogger("mmc")

MODALITIES = ("notes", "labs", "demographics", "diagnoses", "procedures", "medications")
CODE_MODALITIES = ("diagnoses", "procedures", "medications")
LAB_KEYWORDS = (
    "Hematocrit", "Platelet", "WBC", "Bilirubin", "pH", "Bicarbonate", "Creatinine", "Lactate",
    "Potassium", "Sodium",
)  # fmt: skip
CODE_REPRS = ("ids", "titles")


@dataclass(frozen=True)
class PrepSettings:
    """Everything that changes the prepared data; all of it goes into the cache key."""

    split_by: str = "patient"
    split_fractions: tuple[float, ...] = (0.7, 0.1, 0.2)
    split_seed: int = 42
    max_los_days: float = 10.0
    min_age: int = 18
    max_age: int = 89
    max_codes: int = 50
    min_code_count: int = 1
    code_repr: str = "ids"
    lab_keywords: tuple[str, ...] = LAB_KEYWORDS
    lab_max_items: int = 16
    lab_steps: int = 50
    note_section: str | None = "Brief Hospital Course"
    note_max_chars: int = 2000
    text_model: str = PACKAGED

    def validate(self) -> None:
        if self.code_repr not in CODE_REPRS:
            raise choices_error("dataset.code_repr", self.code_repr, CODE_REPRS)
        check(self.max_codes >= 1, f"dataset.max_codes={self.max_codes} must be at least 1")
        check(
            self.min_code_count >= 1, f"dataset.min_code_count={self.min_code_count} must be >= 1"
        )
        check(self.lab_max_items >= 1, f"dataset.lab_max_items={self.lab_max_items} must be >= 1")
        check(self.lab_steps >= 1, f"dataset.lab_steps={self.lab_steps} must be at least 1")
        check(
            len(self.lab_keywords) > 0, "dataset.lab_keywords is empty; give at least one analyte"
        )
        check(
            self.note_max_chars >= 1, f"dataset.note_max_chars={self.note_max_chars} must be >= 1"
        )
        check(
            0 <= self.min_age <= self.max_age,
            f"dataset.min_age={self.min_age} / max_age={self.max_age}: need 0 <= min_age <= max_age",
        )


@dataclass(frozen=True)
class RunOptions:
    """How to prepare (not what): never part of the cache key."""

    threads: int | None = None
    memory_limit: str = "2GB"
    text_device: str = "auto"
    text_batch_size: int = 64


def prepare_mimic(
    root: str | None = None,
    note_root: str | None = None,
    cache_dir: str | None = None,
    rebuild: bool = False,
    split_by: str = "patient",
    split_fractions: list[float] = (0.7, 0.1, 0.2),
    split_seed: int = 42,
    max_los_days: float = 10.0,
    min_age: int = 18,
    max_age: int = 89,
    max_codes: int = 50,
    min_code_count: int = 1,
    code_repr: str = "ids",
    lab_keywords: list[str] = LAB_KEYWORDS,
    lab_max_items: int = 16,
    lab_steps: int = 50,
    note_section: str | None = "Brief Hospital Course",
    note_max_chars: int = 2000,
    text_model: str = PACKAGED,
    threads: int | None = None,
    memory_limit: str = "2GB",
    text_device: str = "auto",
    text_batch_size: int = 64,
) -> dict:
    """Build the cache if needed; return its summary (aggregates only)."""
    entry = ensure_cache(
        root, note_root, cache_dir, rebuild,
        PrepSettings(
            split_by, tuple(float(f) for f in split_fractions), int(split_seed), float(max_los_days),
            int(min_age), int(max_age), int(max_codes), int(min_code_count), code_repr,
            tuple(str(k) for k in lab_keywords), int(lab_max_items), int(lab_steps), note_section,
            int(note_max_chars), str(text_model),
        ),
        RunOptions(threads, str(memory_limit), str(text_device), int(text_batch_size)),
    )  # fmt: skip
    return cache.read_json(entry / "summary.json")


def ensure_cache(
    root, note_root, cache_dir, rebuild: bool, settings: PrepSettings, run: RunOptions
) -> Path:
    settings.validate()
    raw = RawTables(root, note_root)
    needs_text = raw.has_notes or settings.code_repr == "titles"
    embedder = (
        TextEmbedder(settings.text_model, run.text_device, run.text_batch_size)
        if needs_text
        else None
    )
    payload = {
        "settings": dataclasses.asdict(settings),
        "inputs": raw.fingerprints(),
        "text": embedder.identity() if embedder else None,
    }
    base = cache.cache_root(cache_dir)
    key = cache.cache_key(payload)
    entry = base / key
    if cache.is_complete(entry) and not rebuild:
        log.info("MIMIC-IV cache hit: %s", entry)
        return entry
    log.info("preparing MIMIC-IV from %s into %s", raw.root, entry)
    tmp = cache.new_build_dir(base, key)
    try:
        build(raw, settings, run, embedder, tmp, key)
        cache.write_json(
            tmp / "manifest.json", {"version": cache.CACHE_VERSION, "key": key, **payload}
        )
        if rebuild and entry.exists():
            shutil.rmtree(entry)
        return cache.publish(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _connect(tmp: Path, run: RunOptions):
    duckdb = require_duckdb()
    con = duckdb.connect(str(tmp / "work.duckdb"))
    try:
        con.execute(f"SET memory_limit='{run.memory_limit}'")
    except Exception as e:
        raise ConfigError(
            f"dataset.memory_limit={run.memory_limit!r} is not valid ({e}); use e.g. 2GB"
        ) from None
    con.execute(f"SET temp_directory='{tmp / 'spill'}'")
    con.execute("SET preserve_insertion_order=false")  # lets scans stream without reordering
    if run.threads:
        con.execute(f"SET threads={int(run.threads)}")
    return con


def build(
    raw: RawTables,
    s: PrepSettings,
    run: RunOptions,
    embedder: TextEmbedder | None,
    out: Path,
    key: str,
) -> None:
    timing: dict[str, float] = {}
    cpu_timing: dict[str, float] = {}  # process CPU time (all threads): contention-independent
    clock, cpu_clock = time.perf_counter(), time.process_time()

    def lap(stage: str) -> None:
        nonlocal clock, cpu_clock
        now, cpu_now = time.perf_counter(), time.process_time()
        timing[stage], cpu_timing[stage] = round(now - clock, 3), round(cpu_now - cpu_clock, 3)
        clock, cpu_clock = now, cpu_now
        log.info("  %s: %.1f s", stage, timing[stage])

    con = _connect(out, run)
    try:
        scans = {"admissions": raw.scan("admissions"), "patients": raw.scan("patients")}
        try:
            adm = read_admissions(con, scans)
        except Exception as e:
            if isinstance(e, DataError):
                raise
            raise DataError(
                f"{raw.paths['admissions']} / {raw.paths['patients']}: could not read ({str(e).splitlines()[0]}); "
                "check they are intact MIMIC-IV CSVs"
            ) from None
        rules = CohortRules(s.max_los_days, s.min_age, s.max_age)
        cohort, facts = select_cohort(adm, rules, str(raw.paths["admissions"]))
        split = assign_splits(cohort, s.split_by, s.split_fractions, s.split_seed)
        for code, name in enumerate(SPLITS):
            check(
                bool((split == code).any()),
                f"{raw.root}: the cohort ({len(cohort)} admissions) is too small for a "
                f"{name} split; use more data or change dataset.split_fractions",
                DataError,
            )
        n, train = len(cohort), split == 0
        con.register(
            "cohort_df",
            pd.DataFrame(
                {
                    "idx": np.arange(n, dtype=np.int64),
                    "hadm_id": cohort["hadm_id"].to_numpy(),
                    "split": split,
                }
            ),
        )
        con.execute("CREATE OR REPLACE TEMP TABLE cohort AS SELECT * FROM cohort_df")
        con.unregister("cohort_df")
        lap("cohort")

        x: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        details: dict[str, dict] = {}
        x["demographics"], details["demographics"] = demographics(cohort, train)
        masks["demographics"] = np.ones(n, dtype=bool)

        vocab = {}
        for m in CODE_MODALITIES:
            codes.stage_events(con, m, raw)
            masks[m] = codes.observed(con, m, n)
            if s.code_repr == "ids":
                x[m], details[m] = codes.code_ids(con, m, n, s.max_codes, s.min_code_count)
                vocab[m] = codes.vocabulary(con, m)
            else:
                x[m], details[m] = codes.code_titles(con, m, n, s.max_codes, embedder)
            con.execute(f"DROP TABLE ev_{m}")
            lap(m)

        details["labs"] = labs.stage_lab_rows(con, raw, list(s.lab_keywords))
        lap("labs_scan")
        features = labs.select_features(con, s.lab_max_items)
        check(
            len(features) > 0,
            f"{raw.paths['labevents']}: no training admission has a numeric value for any item "
            f"matching dataset.lab_keywords ({', '.join(s.lab_keywords)})",
            DataError,
        )
        labs.stage_steps(con, s.lab_steps)
        masks["labs"] = labs.write_lab_tensor(con, out / "labs.npy", n, len(features), s.lab_steps)
        details["labs"].update({"features": len(features)})
        lap("labs_tensor")

        if raw.has_notes:
            x["notes"], masks["notes"], details["notes"] = notes.note_embeddings(
                con, raw, n, embedder, s.note_section, s.note_max_chars
            )
            details["notes"]["status"] = "present"
            lap("notes")
        else:
            dim = embedder.dim if embedder else 384
            x["notes"] = np.zeros((n, dim), dtype=np.float16)
            masks["notes"] = np.zeros(n, dtype=bool)
            details["notes"] = {
                "status": "absent (no dataset.note_root): missing for every admission"
            }
    finally:
        con.close()
        for leftover in ("work.duckdb", "work.duckdb.wal", "spill"):
            path = out / leftover
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()

    for m, arr in x.items():
        np.save(out / f"{m}.npy", arr.astype(np.float16) if arr.dtype == np.float32 else arr)
    masks = {m: masks[m] for m in MODALITIES}
    np.savez(out / "masks.npz", **masks)
    np.savez(
        out / "cohort.npz",
        hadm_id=cohort["hadm_id"].to_numpy(np.int64),
        subject_id=cohort["subject_id"].to_numpy(np.int64),
        split=split,
        **{t: cohort[t].to_numpy(np.int8) for t in TASKS},
    )
    cache.write_json(out / "vocabulary.json", vocab)
    cache.write_json(out / "lab_features.json", {"features": features})
    summary = {
        "dataset": "mimic",
        "cache_key": key,
        "cache_version": cache.CACHE_VERSION,
        "cohort": {k: facts[k] for k in ("all_admissions", "admissions", "patients", "excluded")},
        "labels": facts["labels"],
        "split": {
            "by": s.split_by,
            "seed": s.split_seed,
            "fractions": list(s.split_fractions),
            "admissions": {name: int((split == c).sum()) for c, name in enumerate(SPLITS)},
            "labels": {
                t: {
                    name: label_counts(cohort[t].to_numpy()[split == c])
                    for c, name in enumerate(SPLITS)
                }
                for t in TASKS
            },
        },
        "modalities": {
            m: {
                "observed": int(masks[m].sum()),
                "shape": list(np.load(out / f"{m}.npy", mmap_mode="r").shape[1:]),
            }
            for m in MODALITIES
        },
        "missingness_patterns": pattern_counts(masks),
        "details": details,
        "timing_s": timing,
        "cpu_s": cpu_timing,
    }
    cache.write_json(out / "summary.json", summary)
    log.info(
        "MIMIC-IV cohort: %d admissions of %d patients; mortality %s; readmission %s",
        facts["admissions"], facts["patients"], facts["labels"]["mortality"], facts["labels"]["readmission"],
    )  # fmt: skip
