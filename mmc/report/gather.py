"""Collect a sweep's runs (summary.json, .hydra/overrides.yaml, metrics.jsonl) into pandas.

Works from the run directories alone: no W&B, no Hydra state. Failed jobs (failure.json)
and unfinished ones are listed separately so a report never hides them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml

from mmc.errors import DataError
from mmc.logging.recorder import flatten
from mmc.sweep.overrides import key_of

# Columns that identify *where* a run sits in a sweep rather than *what method* it is.
AXES = ("seed", "missing_rate", "test_missing_rate", "noise_rate")
AXIS_KEYS = {"seed": "seed", "data.missing_rate": "missing_rate",
             "data.test_missing_rate": "test_missing_rate", "data.noise_rate": "noise_rate"}  # fmt: skip
# summary.json sections that become metric columns (`test/auroc`, `rank/fused/effective`, ...).
PARTS = ("test", "val", "test_masked", "contribution", "rank", "unimodal", "collapse", "extra",
         "val_masked",
         "train_set", "distill")  # fmt: skip
# Config groups: their option names read well alone in a method label ("muse / ebr").
GROUPS = {"dataset", "backbone", "remedy", "experiment"}
# Overrides that never define a method (bookkeeping only).
NEUTRAL = {"logger", "progress", "device", "devices", "run_dir", "name", "tags", "hydra/launcher"}


def _parse_value(text: str):
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return tuple(value) if isinstance(value, list) else value


def run_dirs(root: Path) -> list[Path]:
    """Every job directory under `root` (a sweep dir, a parent of several, or one run)."""
    found = {p.parent for p in root.rglob("summary.json")} | {
        p.parent for p in root.rglob("failure.json")
    }
    return sorted(
        found, key=lambda p: (len(p.parts), [int(s) if s.isdigit() else s for s in p.parts])
    )


def _overrides(run_dir: Path) -> dict:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.exists():
        return {}
    items = yaml.safe_load(path.read_text()) or []
    return {key_of(o): o.split("=", 1)[1] for o in items if "=" in o}


def _read_json(path: Path) -> dict:
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DataError(
            f"{path} is not valid JSON ({' '.join(str(e).split())[:100]}); delete or restore "
            f"that file (or its run directory {path.parent}) and run mmc report again"
        ) from None
    if not isinstance(payload, dict):
        raise DataError(f"{path} does not hold a JSON object; delete or restore that file")
    return payload


def load_runs(roots: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(completed runs, one row each; failed/unfinished jobs with their messages)."""
    rows, problems = [], []
    for root in roots:
        if not root.is_dir():
            raise DataError(f"{root}: no such directory; pass a sweep directory (hydra.sweep.dir)")
        for run in run_dirs(root):
            summary_path, failure_path = run / "summary.json", run / "failure.json"
            summary = _read_json(summary_path) if summary_path.exists() else {}
            # A completed summary wins over a stray failure.json (a refused re-run).
            if failure_path.exists() and summary.get("status") != "completed":
                failure = _read_json(failure_path)
                problems.append(
                    {"run_dir": str(run), "status": "failed", "message": failure.get("message", "")}
                )
                continue
            if summary.get("status") != "completed":
                problems.append(
                    {"run_dir": str(run), "status": summary.get("status", "?"), "message": ""}
                )
                continue
            row = {k: summary.get(k) for k in ("seed", "missing_rate", "test_missing_rate",
                                                "noise_rate", "monitor", "task", "best_epoch")}  # fmt: skip
            row.update(summary.get("choices") or {})
            for part in PARTS:
                row.update(flatten(summary.get(part) or {}, f"{part}/"))
            row["run_dir"] = str(run)
            row["_overrides"] = _overrides(run)
            rows.append(row)
    if not rows and not problems:
        raise DataError(
            f"no runs under {', '.join(map(str, roots))} (no summary.json or failure.json); "
            "pass the directory a `mmc train -m` sweep wrote (printed at its end)"
        )
    runs = pd.DataFrame(rows)
    if not runs.empty:
        runs = _add_override_columns(runs)
    return runs, pd.DataFrame(problems, columns=["run_dir", "status", "message"])


def _add_override_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """Overrides that differ between runs become columns (raw text, for labels)."""
    per_run = runs.pop("_overrides")
    keys = sorted({k for o in per_run for k in o})
    varying = [k for k in keys if len({o.get(k) for o in per_run}) > 1]
    for key in varying:
        column = AXIS_KEYS.get(key, key)
        if column in AXES:
            continue  # already a column, from summary.json
        runs[column] = [o.get(key) for o in per_run]
    runs.attrs["varying"] = [AXIS_KEYS.get(k, k) for k in varying if k not in NEUTRAL]
    return runs


def rate_axes(runs: pd.DataFrame) -> list[str]:
    """Swept rates: missing_rate, noise_rate and dataset keys such as
    dataset.source.audio_missing (avMNIST's training-only audio missingness)."""
    named = [c for c in ("missing_rate", "noise_rate") if c in runs and runs[c].nunique() > 1]
    extra = [
        c for c in runs.attrs.get("varying", [])
        if c not in named and c in runs and ("missing" in c or "noise_rate" in c)
    ]  # fmt: skip
    return named + extra


def _absent(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def add_method(
    runs: pd.DataFrame, by: list[str] | None, exclude: tuple[str, ...] = ()
) -> list[str]:
    """Label each run with its method: the varying settings that are not sweep axes.

    `by` names the columns explicitly; the default is every varying override other than the
    axes (seed, missing/noise rate) and `exclude` (e.g. the β axis of a rank-vs-β plot).
    """
    if by is None:
        axes = {*AXES, *rate_axes(runs), *exclude}
        by = [c for c in runs.attrs.get("varying", []) if c not in axes]
        if not by:
            by = [c for c in ("backbone", "remedy") if c in runs]
    missing = [c for c in by if c not in runs]
    if missing:
        raise DataError(
            f"--method-by names {missing}, not columns of these runs; use some of: "
            f"{', '.join(c for c in runs.columns if '/' not in c)}"
        )
    # A setting a run lacks (a sweep that did not set it) names nothing: "repblend", not
    # "repblend / data.coreset=nan".
    runs["method"] = [
        " / ".join(
            str(v) if c in GROUPS else f"{c}={v}" for c, v in zip(by, vals) if not _absent(v)
        )
        or "default"
        for vals in runs[by].itertuples(index=False)
    ]
    return by


def numeric_axis(runs: pd.DataFrame, column: str) -> pd.Series:
    """A sweep axis as numbers; for list values (e.g. strengths=[2.0,0.5]) the one position
    that varies across runs (the swept β)."""
    parsed = runs[column].map(lambda v: _parse_value(v) if isinstance(v, str) else v)
    if parsed.map(lambda v: isinstance(v, tuple)).all():
        width = parsed.map(len).max()
        varying = [
            i
            for i in range(width)
            if parsed.map(lambda v, i=i: v[i] if i < len(v) else None).nunique() > 1
        ]
        if len(varying) != 1:
            raise DataError(
                f"column {column}: lists vary in {len(varying)} positions; cannot plot it as one axis"
            )
        parsed = parsed.map(lambda v: v[varying[0]])
    return pd.to_numeric(parsed, errors="raise")


def load_histories(runs: pd.DataFrame) -> pd.DataFrame:
    """metrics.jsonl of every run, long format: one row per (run, epoch), with its method."""
    frames = []
    for run_dir, method in zip(runs["run_dir"], runs.get("method", runs["run_dir"])):
        path = Path(run_dir) / "metrics.jsonl"
        if not path.exists():
            continue
        records = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        if records:
            frame = pd.DataFrame(records)
            frame["run_dir"], frame["method"] = run_dir, method
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
