"""Every conf/experiment/* (one per reproducible paper table/figure) composes, every value
its sweep lists is a valid config, and its first sweep point smoke-runs with tiny epochs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser

from mmc.config.compose import compose_config, hydra_context
from mmc.config.validate import validate_config
from mmc.runners.lifecycle import option_of
from mmc.train import train
from tests.conftest import MIMIC_DEMO, MIMIC_SKIP, REPO
from tests.options import REMEDY, dataset_setting

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
COMMON = ["logger=none", "progress=false", "train.epochs=1"]
# Classification runs only: the retrieval runner refuses diagnostics it does not run.
CLASSIFICATION_TINY = ["diagnostics.unimodal_epochs=1"]


def sweep_params(name: str) -> dict[str, list[str]]:
    """The experiment's hydra.sweeper.params, each expanded to its list of values."""
    with hydra_context():
        cfg = compose(
            config_name="config", overrides=[f"experiment={name}"], return_hydra_config=True
        )
    params = cfg.hydra.sweeper.params or {}
    parser = OverridesParser.create()
    return {
        str(k): list(parser.parse_override(f"{k}={v}").sweep_string_iterator())
        for k, v in params.items()
    }


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_for_every_sweep_value(name):
    params = sweep_params(name)
    assert params, f"experiment {name} sweeps nothing; give it hydra.sweeper.params"
    # Job i takes value i of every key (cycling): each value is composed at least once
    # without composing the whole product, which is the sweep itself.
    for i in range(max(map(len, params.values()))):
        job = [f"{k}={v[i % len(v)]}" for k, v in params.items()]
        validate_config(compose_config([f"experiment={name}", *job]))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_smoke_runs(name, tiny_dataset_roots, tmp_path):
    first = [f"{k}={v[0]}" for k, v in sweep_params(name).items()]
    base = compose_config([f"experiment={name}", *first])
    dataset = base.dataset.name
    if dataset == "mimic" and not MIMIC_DEMO.is_dir():
        pytest.skip(MIMIC_SKIP.format(root=MIMIC_DEMO))
    remedy = option_of("remedy", str(base.remedy._target_))
    cfg = compose_config(
        [
            f"experiment={name}",
            *first,
            *COMMON,
            *([] if base.dataset.get("task") == "retrieval" else CLASSIFICATION_TINY),
            *dataset_setting(dataset, tiny_dataset_roots)[1:],
            *REMEDY[remedy],
            f"remedy.expert_dir={tmp_path / 'experts'}"
            if remedy.startswith("repblend")
            else "progress=false",
            f"run_dir={tmp_path}",
        ]
    )
    summary = train(cfg)
    assert summary["status"] == "completed"
    assert (Path(tmp_path) / "summary.json").exists()
