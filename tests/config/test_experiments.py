"""Every conf/experiment/* (one per reproducible paper table/figure) composes, every value
its sweep lists is a valid config, and its first sweep point smoke-runs with tiny epochs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser

from mmc.config.compose import compose_config, hydra_context
from mmc.config.validate import validate_config
from mmc.train import train
from tests.conftest import MIMIC_DEMO, MIMIC_SKIP, REPO, TINY
from tests.retrieval.conftest import TINY_ENCODERS, make_karpathy

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
COMMON = ["logger=none", "progress=false", "train.epochs=1"]
# Classification runs only: the retrieval runner refuses diagnostics it does not run.
CLASSIFICATION_TINY = ["diagnostics.unimodal_epochs=1"]
# Remedies with their own training stages: one epoch each.
REMEDY_TINY = {
    "kd": ["remedy.epochs=1", "diagnostics.unimodal_epochs=1", "remedy.nce_negatives=64"],
    "ebr": ["remedy.hidden=32", "remedy.shared_dim=16", "remedy.disc_hidden=[16]"],
    "repblend": [
        "remedy.iterations=2",
        "remedy.num_experts=1",
        "remedy.expert_train_epochs=1",
        "remedy.syn_steps=2",
        "remedy.batch_syn=4",
    ],  # fmt: skip
}


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


@pytest.fixture(scope="module")
def data_overrides(tmp_path_factory) -> dict[str, list[str]]:
    """Tiny stand-ins per data set: synthetic sizes, the MIMIC-IV demo, fake avMNIST files."""
    cache = tmp_path_factory.mktemp("mimic_cache")
    avmnist = tmp_path_factory.mktemp("avmnist_small")
    rng = np.random.default_rng(0)
    for split, n in (("train", 100), ("test", 40)):
        (avmnist / "image").mkdir(exist_ok=True)
        (avmnist / "audio").mkdir(exist_ok=True)
        np.save(
            avmnist / "image" / f"{split}_data.npy", rng.integers(0, 256, (n, 784), dtype=np.uint8)
        )
        np.save(
            avmnist / "audio" / f"{split}_mfcc.npy", rng.normal(size=(n, 20, 20)).astype(np.float32)
        )
        np.save(avmnist / f"{split}_labels.npy", np.arange(n) % 10)
    return {
        "synthetic": [o for o in TINY if o.startswith("dataset.")],
        "synthetic_theory": [o for o in TINY if o.startswith("dataset.")],
        # The demo has no notes (MIMIC-IV-Note is a separate module): leave them out, since
        # KD refuses a modality that is never observed.
        "mimic": [
            f"dataset.root={MIMIC_DEMO}",
            f"dataset.cache_dir={cache}",
            "train.batch_size=64",
            "model.dim=16",
            "dataset.threads=1",
            "dataset.modalities=[labs,demographics,diagnoses,medications]",
        ],
        "avmnist_small": [f"dataset.root={avmnist}", "dataset.source.val_size=20"],
        # Generated Karpathy folders with tiny encoders instead of NFNet/BERT.
        **{
            name: [
                o.format(root=make_karpathy(tmp_path_factory.mktemp(name), name))
                for o in TINY_ENCODERS
            ]
            + ["data.num_pairs=8"]
            for name in ("flickr30k", "mscoco")
        },  # fmt: skip
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
def test_experiment_smoke_runs(name, data_overrides, tmp_path):
    first = [f"{k}={v[0]}" for k, v in sweep_params(name).items()]
    base = compose_config([f"experiment={name}", *first])
    dataset = base.dataset.name
    if dataset == "mimic" and not MIMIC_DEMO.is_dir():
        pytest.skip(MIMIC_SKIP.format(root=MIMIC_DEMO))
    assert dataset in data_overrides, f"add tiny overrides for dataset {dataset} to this test"
    remedy = str(base.remedy._target_).rsplit(".", 1)[-1]
    tiny_remedy = {"KnowledgeDistillation": "kd", "ExplicitBasisReallocation": "ebr",
                   "RepBlend": "repblend"}.get(remedy)  # fmt: skip
    cfg = compose_config(
        [
            f"experiment={name}",
            *first,
            *COMMON,
            *([] if base.dataset.get("task") == "retrieval" else CLASSIFICATION_TINY),
            *data_overrides[dataset],
            *REMEDY_TINY.get(tiny_remedy, []),
            f"remedy.expert_dir={tmp_path / 'experts'}"
            if tiny_remedy == "repblend"
            else "progress=false",
            f"run_dir={tmp_path}",
        ]
    )
    summary = train(cfg)
    assert summary["status"] == "completed"
    assert (Path(tmp_path) / "summary.json").exists()
