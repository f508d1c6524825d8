"""Helpers shared by the MIMIC-IV tests (a unique module name: tests/ has no packages)."""

from __future__ import annotations

from pathlib import Path


def mimic_overrides(root: Path, cache_dir: Path, *extra: str) -> list[str]:
    """Small, fast `mmc train dataset=mimic` overrides (the conftest TINY list is synthetic-only)."""
    return [
        "dataset=mimic",
        f"dataset.root={root}",
        f"dataset.cache_dir={cache_dir}",
        "logger=none",
        "progress=false",
        "train.epochs=1",
        "diagnostics.unimodal=false",
        "diagnostics.probe_size=64",
        "model.dim=16",
        *extra,
    ]
