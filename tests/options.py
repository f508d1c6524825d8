"""The tiny test setting of every option, one table per choice (as composer's
algorithm_settings.py does for its algorithms).

tests/test_options.py discovers the options (the YAML files of conf/<group>/, the substitution
and extra-diagnostic tables) and fails when one has no line here; the tests that run every
option read their settings from these tables, so a new backbone, remedy, optimiser, scheduler,
data set, substitution or diagnostic is tested the moment it gets its line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import MIMIC_DEMO, REPO, TINY
from tests.retrieval.conftest import TINY_ENCODERS, make_karpathy

SYNTHETIC_SIZES = [o for o in TINY if o.startswith("dataset.")]
SMALL_EBR = ["remedy.hidden=32", "remedy.shared_dim=16", "remedy.disc_hidden=[16]"]
# One distillation iteration's worth of RepBlend / LoRS.
TINY_DISTILL = [
    "remedy.iterations=2",
    "remedy.num_experts=1",
    "remedy.expert_train_epochs=1",
    "remedy.syn_steps=2",
    "remedy.batch_syn=4",
    "data.num_pairs=8",
]
SYNTHETIC_PAIRS = [
    "dataset.source.n_train=150",
    "dataset.source.n_val=40",
    "dataset.source.n_test=40",
    "dataset.source.img_dim=24",
    "dataset.source.txt_dim=16",
    "dataset.model.embed_dim=16",
    "dataset.collapse_reference.epochs=1",
]

BACKBONE: dict[str, list[str]] = {
    "concat": [],
    "late": [],
    "muse": ["backbone.dropout=0"],  # its published 0.25 needs ~30 epochs to learn here
    "grape": [],
    "m3care": [],
    "shaspec": [],
}
REMEDY: dict[str, list[str]] = {
    "none": [],
    "kd": ["remedy.epochs=1", "diagnostics.unimodal_epochs=1", "remedy.nce_negatives=32"],
    "ebr": SMALL_EBR,
    "repblend": TINY_DISTILL,
    "repblend_lors": TINY_DISTILL,
}
OPTIMIZER: dict[str, list[str]] = {"adam": [], "adamw": [], "sgd": ["train.lr=0.05"]}
SCHEDULER: dict[str, list[str]] = {
    "none": [],
    "cosine": [],
    "step": ["scheduler.step_size=1", "scheduler.gamma=0.5"],
    "step_50": [],
}
LOGGER: dict[str, list[str]] = {"none": [], "wandb": ["logger.mode=disabled"]}
# {name} is the folder tiny_dataset_roots made for that data set.
DATASET: dict[str, list[str]] = {
    "synthetic": SYNTHETIC_SIZES,
    "synthetic_theory": SYNTHETIC_SIZES,
    "synthetic_pairs": SYNTHETIC_PAIRS,
    "synthetic_pairs_collapse": [*SYNTHETIC_PAIRS, "dataset.source.num_concepts=20"],
    # The demo has no notes (MIMIC-IV-Note is a separate module): leave them out, since KD
    # refuses a modality that is never observed.
    "mimic": [
        "dataset.root={mimic}",
        "dataset.cache_dir={mimic_cache}",
        "train.batch_size=64",
        "model.dim=16",
        "dataset.threads=1",
        "dataset.modalities=[labs,demographics,diagnoses,medications]",
    ],
    "avmnist": ["dataset.root={avmnist}", "dataset.source.val_size=5"],
    "avmnist_small": ["dataset.root={avmnist_small}", "dataset.source.val_size=20"],
    # Generated Karpathy folders with tiny encoders instead of NFNet/BERT.
    "flickr30k": [*(o.replace("{root}", "{flickr30k}") for o in TINY_ENCODERS), "data.num_pairs=8"],
    "mscoco": [*(o.replace("{root}", "{mscoco}") for o in TINY_ENCODERS), "data.num_pairs=8"],
}
GROUPS: dict[str, dict[str, list[str]]] = {
    "dataset": DATASET,
    "backbone": BACKBONE,
    "remedy": REMEDY,
    "logger": LOGGER,
    "optimizer": OPTIMIZER,
    "scheduler": SCHEDULER,
}
# `substitution=<name>` (mmc.remedies.substitution.SUBSTITUTIONS) and the entries of
# `diagnostics.extra` (mmc.diagnostics.extra.EXTRA).
SUBSTITUTION: dict[str, list[str]] = {
    "zeros": [],
    "random": [],
    "nearest": [],
    "late": [],
    "mean": [],
    "class_mean": [],
    "ebr": ["remedy=ebr", *SMALL_EBR],
}
EXTRA: dict[str, list[str]] = {
    "vif": [],
    "cka": [],
    "semantic": [],
    "polysemanticity": [],
    "patterns": [],
    "ensemble": [],
    "neurons": [],
    "semantic_paper": [],
    "substitutions": [],
}


def options(group: str) -> list[str]:
    """The options of conf/<group>/, as the YAML files name them."""
    return sorted(p.stem for p in (REPO / "conf" / group).glob("*.yaml"))


def make_dataset_roots(mktemp) -> dict[str, str]:
    """Folders in each data set's real on-disk format, small enough for a one-epoch run.

    `mktemp(name)` makes an empty folder (pytest's tmp_path_factory.mktemp).
    """
    rng = np.random.default_rng(0)
    avmnist, small = mktemp("avmnist"), mktemp("avmnist_small")
    for split, n in (("train", 100), ("test", 40)):
        for root in (avmnist, small):
            (root / "image").mkdir(exist_ok=True)
            (root / "audio").mkdir(exist_ok=True)
            image = rng.integers(0, 256, (n, 784), dtype=np.uint8)
            np.save(root / "image" / f"{split}_data.npy", image)
            np.save(root / f"{split}_labels.npy", np.arange(n) % 10)
        # The full set stores spectrograms, the small one SMIL's 20x20 MFCCs.
        audio = rng.integers(0, 256, (n, 112, 112), dtype=np.uint8)
        np.save(avmnist / "audio" / f"{split}_data.npy", audio)
        mfcc = rng.normal(size=(n, 20, 20)).astype(np.float32)
        np.save(small / "audio" / f"{split}_mfcc.npy", mfcc)
    return {
        "mimic": str(MIMIC_DEMO),
        "mimic_cache": str(mktemp("mimic_cache")),
        "avmnist": str(avmnist),
        "avmnist_small": str(small),
        **{name: str(make_karpathy(Path(mktemp(name)), name)) for name in ("flickr30k", "mscoco")},
    }


def dataset_setting(name: str, roots: dict[str, str]) -> list[str]:
    """`dataset=<name>` with its tiny setting, the generated folders filled in."""
    return [f"dataset={name}", *(o.format(**roots) for o in DATASET[name])]
