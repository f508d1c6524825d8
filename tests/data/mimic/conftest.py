"""Fixtures for the MIMIC-IV tests: generated tables in the real layout, and the demo prepared once."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "make_mimic_tables", REPO / "scripts" / "make_mimic_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def make_tables():
    """make_tables(out, lab_rows=..., notes=...) -> out: MIMIC-schema gzip CSVs (synthetic)."""
    gen = _generator()

    def _make(
        out: Path, lab_rows: int = 20_000, notes: bool = False, seed: int = 0,
        sentinel_share: float = 1e-4,
    ) -> Path:  # fmt: skip
        gen.generate(out, lab_rows, None, notes, seed, chunk=10_000, level=1,
                     sentinel_share=sentinel_share)  # fmt: skip
        return out

    return _make


@pytest.fixture(scope="session")
def generated(tmp_path_factory, make_tables) -> Path:
    return make_tables(tmp_path_factory.mktemp("mimic-gen"), lab_rows=30_000, notes=True)


@pytest.fixture(scope="session")
def demo_root() -> Path:
    # Same lookup and reason as tests/conftest.py's mimic_demo fixture.
    root = Path(
        os.environ.get("MMC_MIMIC_DEMO", REPO.parent / "shared" / "data" / "mimic-iv-demo-2.2")
    )
    if not root.is_dir():
        pytest.skip(
            f"MIMIC-IV demo not found at {root}: put mimic-iv-demo-2.2 (hosp/, icu/) there or "
            "set MMC_MIMIC_DEMO=<folder> to run the MIMIC tests (README, 'Tests and benchmarks')"
        )
    return root


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory, demo_root) -> Path:
    """The demo prepared once per session (default settings) into its own cache folder."""
    from mmc.data.mimic.prepare import prepare_mimic

    cache_dir = tmp_path_factory.mktemp("mimic-cache")
    prepare_mimic(root=str(demo_root), cache_dir=str(cache_dir))
    return cache_dir
