"""Structured-config schema of the top-level keys, so typos and wrong types fail at compose.

Group options (dataset, backbone, remedy, logger, optimizer, scheduler) are free-form nodes
with a `_target_`; their keyword arguments are checked against the target's signature before
anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class DataConfig:
    # Simulated missingness: each listed modality is masked per sample with this probability.
    missing_rate: float = 0.0
    # None -> same as missing_rate; applied to val and test.
    test_missing_rate: float | None = None
    # Which modalities may go missing (None -> all), in training and at test time.
    missing_modalities: list[str] | None = None
    test_missing_modalities: list[str] | None = None
    # Additive uniform noise (collapse paper Fig. 7): amplitude = noise_rate * feature range.
    noise_rate: float = 0.0
    noise_modality: str = "weakest"  # a modality name, or "weakest"/"strongest" (dataset info)
    noise_splits: list[str] = field(default_factory=lambda: ["train"])
    # Seed of the missingness/noise draws (None -> the run's seed).
    corruption_seed: int | None = None
    # Retrieval data sets: train on this many real pairs picked by a coreset method
    # (null|random|herding|kcenter; null = all pairs), or distil this many (remedy=repblend).
    coreset: str | None = None
    num_pairs: int = 100
    # Upweight one modality's inputs by beta (collapse paper Fig. 5); see mmc/data/weighting.py.
    modality_weight: float = 1.0
    weighted_modality: str = "weakest"  # a modality name, or "weakest"/"strongest"


@dataclass
class ModelConfig:
    dim: int = 64  # per-modality embedding size fed to the fusion backbone
    head_hidden: int = 64
    dropout: float = 0.0


@dataclass
class TrainConfig:
    epochs: int = 60
    batch_size: int = 128
    # Every optimiser's knobs; the optimiser itself (and what only it takes, e.g. SGD's
    # momentum) is the `optimizer` group, the lr schedule the `scheduler` group.
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = None
    precision: str = "32"  # 32 | bf16 | 16 (mixed precision, CUDA only)
    eval_batch_size: int = 2048
    # Seconds between checkpoints (last.pt, best.pt); 0 = every epoch. The first and the
    # last epoch are always saved, so `resume=` loses at most this much training.
    checkpoint_every_s: float = 30.0
    # Metric on the validation split that picks the best checkpoint; "auto" = accuracy for
    # multi-class, AUC-ROC for binary.
    monitor: str = "auto"


@dataclass
class DiagnosticsConfig:
    every: int = 1  # epochs between rank/contribution diagnostics (0 = only at the end)
    probe_size: int = 1024  # fixed held-out probe set, taken from the validation split
    rank_rtol: float = 0.01  # numerical rank: singular values above rtol * largest
    # Train one encoder+head per modality alone and report its test metric (unimodal strength).
    unimodal: bool = True
    unimodal_epochs: int | None = None  # None -> train.epochs
    # Stop a unimodal reference after this many epochs without a better validation score
    # (None = run all unimodal_epochs). The references also serve as KD teachers.
    unimodal_patience: int | None = 10
    # Early stopping of a reference only starts once it ran this many epochs (a warm-up; 0 =
    # from the first epoch). On synthetic_theory with a noisy weak modality that reference
    # sits at chance for 10-20 epochs before it learns, and patience alone stops it there.
    unimodal_min_epochs: int = 0
    # Collapse-paper diagnostics at the end of the run (mmc/diagnostics/extra.py):
    # any of cka, vif, semantic, polysemanticity, patterns.
    extra: list[str] = field(default_factory=list)


@dataclass
class MmcConfig:
    dataset: Any = MISSING
    backbone: Any = MISSING
    remedy: Any = MISSING
    logger: Any = MISSING
    optimizer: Any = MISSING  # conf/optimizer/: a `_partial_` torch.optim node
    scheduler: Any = MISSING  # conf/scheduler/: a `_partial_` lr scheduler node
    seed: int = 0
    # Several seeds in one process, trained as one batched model, each into <run_dir>/seed<s>
    # (mmc/batched_seeds.py); [] = the single run `seed`.
    seeds: list[int] = field(default_factory=list)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # Fill-in for modalities missing at evaluation time; "none" lets the backbone use its mask.
    substitution: str = "none"
    resume: str | None = None  # a run directory to continue from its last checkpoint
    # Where this run writes; None -> Hydra's job directory (or outputs/runs/<time> without Hydra).
    run_dir: str | None = None
    name: str | None = None  # run name (W&B); None -> derived from the config
    tags: list[str] = field(default_factory=list)
    # GPU ids multirun jobs are spread over: job k runs on cuda:devices[k % len(devices)].
    devices: list[int] = field(default_factory=list)
    progress: bool = True  # progress bar
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)


def register_configs() -> None:
    ConfigStore.instance().store(name="mmc_schema", node=MmcConfig)
