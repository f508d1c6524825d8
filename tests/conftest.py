"""Shared fixtures: compose the real configs (as lightning-hydra-template does) for tiny runs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

# W&B hooks its console capture onto whatever sys.stdout / sys.stderr are when it is first
# imported. Imported here, that is pytest's session-wide capture; imported first inside a test
# that uses capsys, it would hook that test's private stream, and every later offline run in
# the worker would come back with an empty console (order-dependent failure).
import wandb  # noqa: F401

# Several test workers share two cores: one thread each avoids oversubscription.
torch.set_num_threads(1)
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
MIMIC_DEMO = Path(
    os.environ.get("MMC_MIMIC_DEMO", REPO.parent / "shared" / "data" / "mimic-iv-demo-2.2")
)
MIMIC_SKIP = (
    "MIMIC-IV demo not found at {root}: put mimic-iv-demo-2.2 (hosp/, icu/) there or set "
    "MMC_MIMIC_DEMO=<folder> to run the MIMIC tests (README, 'Tests and benchmarks')"
)

# Small and fast, yet large enough for the synthetic benchmark to learn something.
TINY = [
    "logger=none",
    "progress=false",
    "train.epochs=3",
    "dataset.source.n_train=600",
    "dataset.source.n_val=200",
    "dataset.source.n_test=200",
    "diagnostics.unimodal_epochs=2",
    "diagnostics.probe_size=128",
]


@pytest.fixture
def compose():
    """compose(*overrides, tiny=True) -> the real composed config, run_dir in a tmp folder."""
    from mmc.config.compose import compose_config

    def _compose(*overrides: str, tiny: bool = True, run_dir: Path | None = None):
        extra = [f"run_dir={run_dir}"] if run_dir is not None else []
        return compose_config([*(TINY if tiny else []), *extra, *overrides])

    return _compose


@pytest.fixture
def mimic_demo() -> Path:
    if not MIMIC_DEMO.is_dir():
        pytest.skip(MIMIC_SKIP.format(root=MIMIC_DEMO))
    return MIMIC_DEMO


@pytest.fixture(autouse=True)
def _restore_logging_handlers():
    """In-process `mmc train` runs Hydra's job logging, which leaves handlers on the root and
    `mmc` loggers bound to that test's captured streams; a later test would log into a closed
    stream ("--- Logging error ---" on its stderr)."""
    loggers = [logging.getLogger(), logging.getLogger("mmc")]
    before = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, handlers, level, propagate in before:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


@pytest.fixture(scope="module")
def tiny_dataset_roots(tmp_path_factory) -> dict[str, str]:
    """Generated folders in each data set's real format (tests/options.py), filled into the
    tiny settings by tests.options.dataset_setting."""
    from tests.options import make_dataset_roots

    return make_dataset_roots(tmp_path_factory.mktemp)
