"""Checks that turn bad config into a one-line ConfigError before anything runs."""

from __future__ import annotations

from omegaconf import DictConfig

from mmc.diagnostics.extra import check_extra
from mmc.engine.optim import OPTIMIZERS, SCHEDULERS
from mmc.errors import check, choices_error


def validate_config(cfg: DictConfig) -> None:
    """Value checks that the schema's types cannot express."""
    d, t, g = cfg.data, cfg.train, cfg.diagnostics
    for key in ("missing_rate", "test_missing_rate"):
        value = d[key]
        if value is not None:
            check(
                0.0 <= value <= 1.0,
                f"data.{key}={value} is outside [0, 1]; give a probability such as 0.3",
            )
    check(d.noise_rate >= 0, f"data.noise_rate={d.noise_rate} must be >= 0 (e.g. 0.05 to 0.5)")
    for s in d.noise_splits:
        if s not in ("train", "val", "test"):
            raise choices_error("data.noise_splits entry", s, ["train", "val", "test"])
    check(t.epochs >= 1, f"train.epochs={t.epochs} must be at least 1")
    check(t.batch_size >= 1, f"train.batch_size={t.batch_size} must be at least 1")
    check(t.eval_batch_size >= 1, f"train.eval_batch_size={t.eval_batch_size} must be at least 1")
    check(t.lr > 0, f"train.lr={t.lr} must be > 0")
    check(
        t.checkpoint_every_s >= 0,
        f"train.checkpoint_every_s={t.checkpoint_every_s} must be >= 0 (0 = every epoch)",
    )
    if t.optimizer not in OPTIMIZERS:
        raise choices_error("train.optimizer", t.optimizer, list(OPTIMIZERS))
    if t.scheduler not in SCHEDULERS:
        raise choices_error("train.scheduler", t.scheduler, list(SCHEDULERS))
    check(g.every >= 0, f"diagnostics.every={g.every} must be >= 0 (0 = only at the end)")
    check(g.probe_size >= 2, f"diagnostics.probe_size={g.probe_size} must be at least 2")
    check(
        g.unimodal_patience is None or g.unimodal_patience >= 1,
        f"diagnostics.unimodal_patience={g.unimodal_patience} must be >= 1 (or null: no early stop)",
    )
    check(g.rank_rtol > 0, f"diagnostics.rank_rtol={g.rank_rtol} must be > 0")
    check_extra(g.extra)
    check(
        d.modality_weight > 0,
        f"data.modality_weight={d.modality_weight} must be > 0 (1 = unchanged)",
    )
    check(cfg.model.dim >= 1, f"model.dim={cfg.model.dim} must be at least 1")
