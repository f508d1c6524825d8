"""The run directory's own record: config.yaml, metrics.jsonl (one line per epoch), summary.json.

These files are the source of truth for `mmc report`; W&B mirrors them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


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


def write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_clean(payload), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


class RunRecorder:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.metrics_path = run_dir / "metrics.jsonl"
        self.summary_path = run_dir / "summary.json"
        self.config_path = run_dir / "config.yaml"

    def write_config(self, cfg: DictConfig) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".yaml.tmp")
        tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))
        os.replace(tmp, self.config_path)

    def truncate_after(self, last_epoch: int) -> None:
        """On resume: keep the epochs covered by the checkpoint; later ones are recomputed."""
        if not self.metrics_path.exists():
            return
        keep = [
            line
            for line in self.metrics_path.read_text().splitlines()
            if line.strip() and json.loads(line).get("epoch", -1) <= last_epoch
        ]
        tmp = self.metrics_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        os.replace(tmp, self.metrics_path)

    def log(self, record: dict) -> None:
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(_clean(record), sort_keys=True) + "\n")

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(x) for x in self.metrics_path.read_text().splitlines() if x.strip()]

    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self.summary_path, summary)
