"""Which overrides vary across a sweep, and short names built from them (W&B run names,
report columns)."""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf


def sweep_overrides(sweep_dir: Path) -> list[str]:
    """The sweep's override strings: command line plus hydra.sweeper.params (experiments)."""
    path = sweep_dir / "multirun.yaml"
    if not path.exists():
        return []
    hydra = OmegaConf.load(path).get("hydra") or {}
    task = list((hydra.get("overrides") or {}).get("task") or [])
    params = (hydra.get("sweeper") or {}).get("params") or {}
    return [f"{k}={v}" for k, v in params.items()] + task


def varying_keys(overrides: list[str]) -> list[str]:
    """Keys swept over more than one value (`remedy=none,kd`, `x=range(3)`, `x=choice(..)`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # an unparsable multirun.yaml only costs the short names
        return []
    return [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]


def key_of(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def run_name(job_overrides: list[str], keys: list[str]) -> str | None:
    """`remedy=kd,data.missing_rate=0.3` from a job's overrides, keeping only the varying keys."""
    keep = [o.lstrip("+~") for o in job_overrides if key_of(o) in keys]
    return ",".join(keep) or None


def sweep_identity() -> tuple[str | None, str | None, list[str]]:
    """(W&B group, run name, extra tags) of the current Hydra job.

    Multirun: the group names the sweep (its experiment, or the keys it varies) and when it
    started, e.g. "synthetic_collapse @ 2026-12-02 14:30:05" (one group per sweep, never a
    filesystem path); the name lists only the overrides that vary across the sweep. A single
    run of an experiment is grouped under the experiment's name. Tags name the experiment.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None, None, []
    hc = HydraConfig.get()
    experiment = hc.runtime.choices.get("experiment")
    tags = [f"experiment:{experiment}"] if experiment else []
    if hc.mode != RunMode.MULTIRUN:
        return experiment, None, tags
    sweep_dir = Path(hc.sweep.dir)
    varying = varying_keys(sweep_overrides(sweep_dir))
    name = run_name(list(hc.overrides.task), varying)
    return sweep_group(sweep_dir, experiment, varying), name or f"job{hc.job.num}", tags


def sweep_group(sweep_dir: Path, experiment: str | None, varying: list[str]) -> str:
    """A readable W&B group for one sweep: what it is about, then when it started.

    The default sweep dir .../<YYYY-MM-DD>/<HH-MM-SS.micro> reads as a time stamp; a
    user-chosen hydra.sweep.dir reads as its last folder name."""
    swept = [k for k in varying if k != "seed"]
    what = experiment or (f"sweep {' × '.join(swept)}" if swept else "sweep")
    leaf, parent = sweep_dir.name, sweep_dir.parent.name
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", parent) and re.match(r"\d{2}-\d{2}-\d{2}", leaf):
        when = f"{parent} {leaf[:8].replace('-', ':')}"
    else:
        when = leaf
    # W&B caps group names at 128 characters; the time stamp is the unique part.
    return f"{what[: 125 - len(when)]} @ {when}"
