"""The run directory's own record: config.yaml, metrics.jsonl (one line per epoch), summary.json.

These files are the source of truth for `mmc report`; W&B mirrors them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mmc.errors import DataError


def _clean(value):
    # JSON has no NaN/inf: write null so every reader (pandas, jq, W&B) accepts the file.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def flatten(d: dict, prefix: str = "") -> dict:
    """{"test": {"auroc": 0.9}} -> {"test/auroc": 0.9}; scalars only (lists are dropped)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[key] = v
    return out


def write_text_atomic(path: Path, text: str) -> None:
    """Write-then-rename; on a full or read-only disk no `.tmp` file is left behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, payload: dict) -> None:
    write_text_atomic(path, json.dumps(_clean(payload), indent=2, sort_keys=True) + "\n")


class RunRecorder:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.metrics_path = run_dir / "metrics.jsonl"
        self.summary_path = run_dir / "summary.json"
        self.config_path = run_dir / "config.yaml"

    def write_config(self, cfg: DictConfig) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.config_path, OmegaConf.to_yaml(cfg, resolve=True))

    def truncate_after(self, last_epoch: int) -> None:
        """On resume: keep the epochs covered by the checkpoint; later ones are recomputed."""
        if not self.metrics_path.exists():
            return
        lines = [x for x in self.metrics_path.read_text().splitlines() if x.strip()]
        keep = []
        for i, line in enumerate(lines):
            try:
                record = json.loads(line)
            except ValueError:
                if i == len(lines) - 1:  # a line cut short by a kill: recomputed anyway
                    break
                raise DataError(
                    f"{self.metrics_path} line {i + 1} is not valid JSON; the run's history is "
                    "damaged: restore the file, or start the run again without resume="
                ) from None
            if record.get("epoch", -1) <= last_epoch:
                keep.append(line)
        write_text_atomic(self.metrics_path, "".join(line + "\n" for line in keep))

    def log(self, record: dict) -> None:
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(_clean(record), sort_keys=True) + "\n")

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(x) for x in self.metrics_path.read_text().splitlines() if x.strip()]

    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self.summary_path, summary)
