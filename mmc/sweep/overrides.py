"""Which overrides vary across a sweep, and short names built from them (W&B run names,
report columns)."""

from __future__ import annotations

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

    Multirun: the group is the sweep directory (one group per sweep) and the name lists only
    the overrides that vary across the sweep. Tags name the experiment, when one is chosen.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None, None, []
    hc = HydraConfig.get()
    experiment = hc.runtime.choices.get("experiment")
    tags = [f"experiment:{experiment}"] if experiment else []
    if hc.mode != RunMode.MULTIRUN:
        return None, None, tags
    sweep_dir = Path(hc.sweep.dir).resolve()
    try:
        group = str(sweep_dir.relative_to(Path.cwd()))
    except ValueError:
        group = str(sweep_dir)
    # W&B caps group names at 128 characters; the end of the path is the unique part.
    group = group[-128:]
    name = run_name(list(hc.overrides.task), varying_keys(sweep_overrides(sweep_dir)))
    return group, name or f"job{hc.job.num}", tags
