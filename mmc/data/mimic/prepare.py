"""Raw MIMIC-IV gzip CSVs -> a cached, training-ready data set (`mmc prepare dataset=mimic`).

DuckDB does all the table work out of core (memory capped by `memory_limit`, spilling to the
build folder), one fresh connection per stage; Python only ever sees per-admission results.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil

try:
    import resource
except ImportError:  # not on Windows
    resource = None
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmc.data.mimic import cache
from mmc.data.mimic.cohort import CohortRules, read_admissions, select_cohort
from mmc.data.mimic.labels import LABEL_RULES, TASKS, label_counts
from mmc.data.mimic.modalities import codes, labs, notes
from mmc.data.mimic.modalities.demographics import demographics
from mmc.data.mimic.modalities.notes import MUSE_END, MUSE_START
from mmc.data.mimic.patterns import pattern_counts
from mmc.data.mimic.split import SPLITS, assign_splits
from mmc.data.mimic.tables import (
    RawTables,
    is_out_of_memory,
    out_of_memory_error,
    require_duckdb,
    scaled,
)
from mmc.data.mimic.text import PACKAGED, TextEmbedder
from mmc.errors import ConfigError, DataError, check, choices_error
from mmc.utils.memory import trim_heap

log = logging.getLogger("mmc")

MODALITIES = ("notes", "labs", "demographics", "diagnoses", "procedures", "medications")
CODE_MODALITIES = ("diagnoses", "procedures", "medications")
LAB_KEYWORDS = (
    "Hematocrit", "Platelet", "WBC", "Bilirubin", "pH", "Bicarbonate", "Creatinine", "Lactate",
    "Potassium", "Sodium",
)  # fmt: skip
CODE_REPRS = ("ids", "titles")
# Share of dataset.memory_limit the event stages (codes and labs) run under. They are where
# DuckDB fills its whole budget as the event tables grow (the cohort stage's needs grow with
# admissions only), and that budget adds to the process's fixed ~195 MiB (Python, numpy,
# pandas, pyarrow, DuckDB); with it (and the chunked windows) the 30M-lab-row preparation
# takes about the same CPU time as before. See docs/mimic.md, "Memory".
EVENT_MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class PrepSettings:
    """Everything that changes the prepared data; all of it goes into the cache key."""

    split_by: str = "patient"
    split_fractions: tuple[float, ...] = (0.7, 0.1, 0.2)
    split_seed: int = 42
    max_los_days: float = 10.0
    min_age: int = 18
    max_age: int = 89
    label_rule: str = "muse"
    max_codes: int = 50
    min_code_count: int = 1
    code_repr: str = "ids"
    lab_keywords: tuple[str, ...] = LAB_KEYWORDS
    lab_max_items: int | None = None
    lab_steps: int = 50
    note_start: str | None = MUSE_START
    note_end: str | None = MUSE_END
    note_max_tokens: int | None = None
    text_model: str = PACKAGED

    def validate(self) -> None:
        if self.code_repr not in CODE_REPRS:
            raise choices_error("dataset.code_repr", self.code_repr, CODE_REPRS)
        if self.label_rule not in LABEL_RULES:
            raise choices_error("dataset.label_rule", self.label_rule, LABEL_RULES)
        check(self.max_codes >= 1, f"dataset.max_codes={self.max_codes} must be at least 1")
        check(
            self.min_code_count >= 1, f"dataset.min_code_count={self.min_code_count} must be >= 1"
        )
        check(
            self.lab_max_items is None or self.lab_max_items >= 1,
            f"dataset.lab_max_items={self.lab_max_items} must be >= 1 (or null: every matching item)",
        )
        check(self.lab_steps >= 1, f"dataset.lab_steps={self.lab_steps} must be at least 1")
        check(
            len(self.lab_keywords) > 0, "dataset.lab_keywords is empty; give at least one analyte"
        )
        check(
            self.note_max_tokens is None or self.note_max_tokens >= 2,
            f"dataset.note_max_tokens={self.note_max_tokens} must be >= 2 "
            "(or null: the encoder's own limit)",
        )
        check(
            0 <= self.min_age <= self.max_age,
            f"dataset.min_age={self.min_age} / max_age={self.max_age}: need 0 <= min_age <= max_age",
        )


@dataclass(frozen=True)
class RunOptions:
    """How to prepare (not what): never part of the cache key."""

    threads: int | None = None
    memory_limit: str = "128MB"
    text_device: str = "auto"
    text_batch_size: int = 64
    progress: bool | None = None  # DuckDB's progress bar; None: when the output is a terminal


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
    label_rule: str = "muse",
    max_codes: int = 50,
    min_code_count: int = 1,
    code_repr: str = "ids",
    lab_keywords: list[str] = LAB_KEYWORDS,
    lab_max_items: int | None = None,
    lab_steps: int = 50,
    note_start: str | None = MUSE_START,
    note_end: str | None = MUSE_END,
    note_max_tokens: int | None = None,
    text_model: str = PACKAGED,
    threads: int | None = None,
    memory_limit: str = "128MB",
    text_device: str = "auto",
    text_batch_size: int = 64,
    progress: bool | None = None,
) -> dict:
    """Build the cache if needed; return its summary (aggregates only)."""
    entry = ensure_cache(
        root, note_root, cache_dir, rebuild,
        PrepSettings(
            split_by, tuple(float(f) for f in split_fractions), int(split_seed), float(max_los_days),
            int(min_age), int(max_age), str(label_rule), int(max_codes), int(min_code_count),
            code_repr, tuple(str(k) for k in lab_keywords),
            None if lab_max_items is None else int(lab_max_items), int(lab_steps),
            note_start or None, note_end or None,
            None if note_max_tokens is None else int(note_max_tokens), str(text_model),
        ),
        RunOptions(
            threads, str(memory_limit), str(text_device), int(text_batch_size),
            None if progress is None else bool(progress),
        ),
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


def _connect(tmp: Path, run: RunOptions, share: float = 1.0):
    """A connection to the work database; DuckDB may use `share` of dataset.memory_limit."""
    duckdb = require_duckdb()
    con = duckdb.connect(str(tmp / "work.duckdb"))
    limit = run.memory_limit if share == 1.0 else scaled(run.memory_limit, share)
    try:
        if limit is None:
            raise ValueError("not a number with a unit")
        con.execute(f"SET memory_limit='{limit}'")
    except Exception as e:
        raise ConfigError(
            f"dataset.memory_limit={run.memory_limit!r} is not valid ({e}); use e.g. 128MB"
        ) from None
    con.execute(f"SET temp_directory='{tmp / 'spill'}'")
    # Joins run in the order written, the large table probing and the small one (cohort, item
    # and code dictionaries) hashed. DuckDB cannot size a CSV scan (it guessed 42 rows for 30M
    # lab rows), so its join-order optimizer hashed the lab rows instead of the 63k-row cohort:
    # a hash table growing with the file, which made memory grow and broke memory_limit=64MB.
    try:
        con.execute("SET disabled_optimizers='join_order,build_side_probe_side'")
    except Exception:  # duckdb < 1.1 has no build_side_probe_side optimizer
        con.execute("SET disabled_optimizers='join_order'")
    con.execute("SET preserve_insertion_order=false")  # lets scans stream without reordering
    # Each DuckDB thread holds its own CSV buffers and operator state, so memory grows with
    # threads; the scan is bound by one gzip stream anyway, so more than 4 buys little.
    con.execute(f"SET threads={int(run.threads or min(4, os.cpu_count() or 1))}")
    show = run.progress if run.progress is not None else sys.stdout.isatty() and sys.stderr.isatty()
    con.execute(f"SET enable_progress_bar={'true' if show else 'false'}")
    if show:  # DuckDB draws its bar for statements running over ~2 s (the labevents scan)
        con.execute("SET enable_progress_bar_print=true")
    return con


def _peak_rss_mib() -> int:
    """Peak resident memory of this process so far (DuckDB's native allocations included)."""
    if resource is None:  # not on Windows
        return -1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss / 2**20 if sys.platform == "darwin" else rss / 1024)


def _rss_mib() -> int:
    """Resident memory of this process now (Linux; -1 elsewhere): shows what a stage released."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        return -1


def _human_size(path: Path) -> str:
    size = path.stat().st_size
    if size >= 2**30:
        return f"{size / 2**30:.2f} GiB"
    return f"{size / 2**20:.0f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"


def _save(out: Path, modality: str, arr: np.ndarray) -> None:
    np.save(out / f"{modality}.npy", arr.astype(np.float16) if arr.dtype == np.float32 else arr)


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
    peak_rss: dict[str, int] = {}  # process peak resident memory after each stage
    clock, cpu_clock = time.perf_counter(), time.process_time()
    stages = ["cohort", *CODE_MODALITIES, "labs_scan", "labs_tensor"] + (
        ["notes"] if raw.has_notes else []
    )
    current = {"stage": "connecting"}

    def begin(stage: str, what: str) -> None:
        """Say what starts now (a 118M-row preparation runs for many minutes)."""
        current["stage"] = what
        log.info("MIMIC-IV [%d/%d] %s ...", stages.index(stage) + 1, len(stages), what)

    def lap(stage: str, result: str = "") -> None:
        nonlocal clock, cpu_clock
        now, cpu_now = time.perf_counter(), time.process_time()
        timing[stage], cpu_timing[stage] = round(now - clock, 3), round(cpu_now - cpu_clock, 3)
        clock, cpu_clock = now, cpu_now
        peak_rss[stage] = _peak_rss_mib()
        log.info(
            "  %s: %.1f s, peak RSS %d MiB (now %d)%s",
            stage, timing[stage], peak_rss[stage], _rss_mib(), f"; {result}" if result else "",
        )  # fmt: skip

    # A fresh DuckDB connection per stage: closing one releases its buffer pool and allocator
    # caches, which otherwise stay near memory_limit for the rest of the preparation and add
    # to the next stage's own peak. Tables passed between stages are persistent (work.duckdb).
    con = None

    def fresh(share: float = 1.0):
        nonlocal con
        if con is not None:
            con.close()
            trim_heap()
        con = _connect(out, run, share)
        return con

    try:
        fresh()
        begin("cohort", f"reading admissions and patients ({_human_size(raw.paths['admissions'])})")
        scans = {"admissions": raw.scan("admissions"), "patients": raw.scan("patients")}
        try:
            adm = read_admissions(con, scans)
        except Exception as e:
            if isinstance(e, DataError) or is_out_of_memory(e):
                raise
            raise DataError(
                f"{raw.paths['admissions']} / {raw.paths['patients']}: could not read ({str(e).splitlines()[0]}); "
                "check they are intact MIMIC-IV CSVs"
            ) from None
        fresh()  # the read's buffers released before pandas works on the admissions
        rules = CohortRules(s.max_los_days, s.min_age, s.max_age, label_rule=s.label_rule)
        cohort, facts = select_cohort(adm, rules, str(raw.paths["admissions"]))
        split = assign_splits(cohort, s.split_by, s.split_fractions, s.split_seed)
        for code, name in enumerate(SPLITS):
            check(
                bool((split == code).any()),
                f"{raw.root}: the cohort ({len(cohort)} admissions) is too small for a "
                f"{name} split; use more data or change dataset.split_fractions",
                DataError,
            )
        n_all, n, train = len(adm), len(cohort), split == 0
        del adm  # every admission of the file: not needed past the cohort
        con.register(
            "cohort_df",
            pd.DataFrame(
                {
                    "idx": np.arange(n, dtype=np.int64),
                    "hadm_id": cohort["hadm_id"].to_numpy(),
                    "split": split,
                    "dischtime": cohort["dischtime"].to_numpy(),
                }
            ),
        )
        # Persistent, not TEMP: later stages read it through their own connections.
        con.execute("CREATE OR REPLACE TABLE cohort AS SELECT * FROM cohort_df")
        con.unregister("cohort_df")
        lap("cohort", f"{n_all:,} admissions -> cohort {n:,} of {facts['patients']:,} patients")

        x: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        details: dict[str, dict] = {}
        outside: dict[str, dict] = {}
        x["demographics"], details["demographics"] = demographics(cohort, train)
        masks["demographics"] = np.ones(n, dtype=bool)
        _save(out, "demographics", x.pop("demographics"))
        cohort = cohort[["hadm_id", "subject_id", *TASKS]]  # all that the end needs

        vocab = {}
        for m in CODE_MODALITIES:
            table = codes.CODE_SOURCES[m]["table"]
            fresh(EVENT_MEMORY_SHARE)
            begin(m, f"reading {m} from {table} ({_human_size(raw.paths[table])})")
            dropped = codes.stage_events(con, m, raw)
            masks[m] = codes.observed(con, m, n)
            if s.code_repr == "ids":
                details[m] = codes.code_ids(
                    con, m, out / f"{m}.npy", n, s.max_codes, s.min_code_count
                )
                vocab[m] = codes.vocabulary(con, m)
            else:
                x[m], details[m] = codes.code_titles(con, m, n, s.max_codes, embedder)
                # Written now, not held to the end: [n, dim] per modality adds up at scale.
                _save(out, m, x.pop(m))
            rows = int(con.execute(f"SELECT coalesce(sum(n_rows), 0) FROM ev_{m}").fetchone()[0])
            details[m].update({"in_stay_rows": rows, **dropped})
            outside[table] = dropped
            con.execute(f"DROP TABLE ev_{m}")
            con.execute(f"DROP TABLE codes_{m}")
            lap(
                m,
                f"{rows:,} in-stay rows, {dropped['dropped_after_discharge']:,} after discharge dropped",
            )

        fresh(EVENT_MEMORY_SHARE)
        begin("labs_scan", f"streaming labevents ({_human_size(raw.paths['labevents'])})")
        details["labs"] = labs.stage_lab_rows(con, raw, list(s.lab_keywords))
        outside["labevents"] = {
            k: details["labs"][k] for k in ("dropped_after_discharge", "dropped_untimed")
        }
        lap(
            "labs_scan",
            f"{details['labs']['rows_kept']:,} in-stay rows of {details['labs']['matching_items']} "
            f"matching items, {details['labs']['dropped_after_discharge']:,} after discharge dropped",
        )
        fresh(EVENT_MEMORY_SHARE)
        begin("labs_tensor", "computing lab statistics (training split) and the lab tensor")
        features = labs.select_features(con, s.lab_max_items)
        check(
            len(features) > 0,
            f"{raw.paths['labevents']}: no training admission has a numeric value for any item "
            f"matching dataset.lab_keywords ({', '.join(s.lab_keywords)})",
            DataError,
        )
        # each step's buffer pool released before the next
        labs.stage_steps(fresh(EVENT_MEMORY_SHARE), s.lab_steps)
        masks["labs"] = labs.write_lab_tensor(
            fresh(EVENT_MEMORY_SHARE), out / "labs.npy", n, len(features), s.lab_steps
        )
        zsd = [f["train_z_sd"] for f in features if f["train_z_sd"] is not None]
        details["labs"].update(
            {
                "features": len(features),
                "selection": "all matching"
                if s.lab_max_items is None
                else f"top {s.lab_max_items}",
                "train_z_sd_range": [round(min(zsd), 3), round(max(zsd), 3)] if zsd else None,
            }
        )
        lap("labs_tensor", f"{len(features)} items -> {2 * len(features) + 1} channels")

        if raw.has_notes:
            fresh()
            begin("notes", f"embedding discharge notes ({_human_size(raw.paths['discharge'])})")
            x["notes"], masks["notes"], details["notes"] = notes.note_embeddings(
                con, raw, n, embedder, s.note_start, s.note_end, s.note_max_tokens
            )
            details["notes"]["status"] = "present"
            lap("notes", f"{details['notes']['notes']:,} notes with the section embedded")
        else:
            dim = embedder.dim if embedder else 384
            x["notes"] = np.zeros((n, dim), dtype=np.float16)
            masks["notes"] = np.zeros(n, dtype=bool)
            details["notes"] = {
                "status": "absent (no dataset.note_root): missing for every admission"
            }
    except Exception as e:
        if is_out_of_memory(e):
            raise out_of_memory_error(e, run.memory_limit, current["stage"]) from None
        raise
    finally:
        if con is not None:
            con.close()
        for leftover in ("work.duckdb", "work.duckdb.wal", "spill"):
            path = out / leftover
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()

    for m, arr in x.items():
        _save(out, m, arr)
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
        "label_rule": s.label_rule,
        # Cohort rows of each table dropped as outside the stay (after dischtime, or no time).
        "events_outside_stay": outside,
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
        "peak_rss_mib": peak_rss,
    }
    cache.write_json(out / "summary.json", summary)
    log.info(
        "MIMIC-IV cohort: %d admissions of %d patients; mortality %s; readmission %s",
        facts["admissions"], facts["patients"], facts["labels"]["mortality"], facts["labels"]["readmission"],
    )  # fmt: skip
