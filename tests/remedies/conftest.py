"""A tiny built (untrained) model with its data and run context, for mechanism tests."""

from __future__ import annotations

import logging

import pytest
import torch

SMALL = [
    "dataset.source.n_train=300",
    "dataset.source.n_val=100",
    "dataset.source.n_test=100",
    "model.dim=16",
]


@pytest.fixture
def tiny_model(compose, tmp_path):
    """tiny_model(*overrides) -> (cfg, data, model, ctx) with the remedy set up."""
    from mmc.context import RunContext
    from mmc.data.build import build_dataset
    from mmc.diagnostics.metrics import check_monitor
    from mmc.engine.model import build_model
    from mmc.engine.unimodal import UnimodalReferences

    def _make(*overrides: str):
        cfg = compose(*SMALL, *overrides, run_dir=tmp_path)
        torch.manual_seed(0)
        data = build_dataset(cfg)
        model = build_model(cfg, data)
        cpu = torch.device("cpu")
        refs = UnimodalReferences(cfg, data, cpu, check_monitor(cfg.train.monitor, data.task))
        ctx = RunContext(
            cfg,
            cpu,
            tmp_path,
            log=lambda d: None,
            logger=logging.getLogger("test"),
            references=refs,
        )
        model.remedy.setup(model, data, ctx)
        return cfg, data, model, ctx

    return _make
