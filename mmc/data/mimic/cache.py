"""The prepared-data cache: one folder per (cache version, input files, preparation settings).

`<cache_dir>/mimic/<key>/` holds manifest.json (what was built from what), summary.json
(aggregates only: safe to print and log), cohort.npz, masks.npz and one .npy per modality.
It is built in a temporary sibling folder and renamed into place, so an interrupted or
concurrent preparation never leaves a half-written entry behind. The cache holds row-level
derived data: it stays on the machine like the raw files (PhysioNet data use agreement).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

# Bump when the preparation's output changes meaning: every old entry is then rebuilt.
CACHE_VERSION = 2  # 2: in-stay events only, MUSE day arithmetic, robust lab statistics, MUSE notes


def cache_root(cache_dir: str | Path | None) -> Path:
    """`cache_dir`, else $MMC_CACHE_DIR, else ~/.cache/mmc; MIMIC entries live under mimic/."""
    base = cache_dir or os.environ.get("MMC_CACHE_DIR") or Path.home() / ".cache" / "mmc"
    return Path(str(base)).expanduser() / "mimic"


def cache_key(payload: dict) -> str:
    blob = json.dumps({"version": CACHE_VERSION, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def is_complete(entry: Path) -> bool:
    try:
        manifest = json.loads((entry / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("version") == CACHE_VERSION and (entry / "summary.json").exists()


def new_build_dir(root: Path, key: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{key}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def publish(tmp: Path, entry: Path) -> Path:
    """Move a finished build into place; if another process won the race, keep theirs."""
    try:
        os.replace(tmp, entry)
    except OSError:
        if not is_complete(entry):
            shutil.rmtree(entry, ignore_errors=True)
            os.replace(tmp, entry)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return entry


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
