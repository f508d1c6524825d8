"""Checks that turn bad config into a one-line ConfigError before anything runs."""

from __future__ import annotations

import dataclasses
import difflib

from omegaconf import DictConfig

from mmc.config.build import check_keys
from mmc.config.schema import MmcConfig
from mmc.diagnostics.extra import check_extra
from mmc.errors import ConfigError, check, choices_error
from mmc.utils.device import PRECISIONS


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
    check(g.every >= 0, f"diagnostics.every={g.every} must be >= 0 (0 = only at the end)")
    check(g.probe_size >= 2, f"diagnostics.probe_size={g.probe_size} must be at least 2")
    check(
        g.unimodal_patience is None or g.unimodal_patience >= 1,
        f"diagnostics.unimodal_patience={g.unimodal_patience} must be >= 1 (or null: no early stop)",
    )
    check(
        g.unimodal_min_epochs >= 0,
        f"diagnostics.unimodal_min_epochs={g.unimodal_min_epochs} must be >= 0 (0 = no warm-up)",
    )
    check(g.rank_rtol > 0, f"diagnostics.rank_rtol={g.rank_rtol} must be > 0")
    check_extra(g.extra)
    check(
        d.modality_weight > 0,
        f"data.modality_weight={d.modality_weight} must be > 0 (1 = unchanged)",
    )
    check(cfg.model.dim >= 1, f"model.dim={cfg.model.dim} must be at least 1")
    _check_optimisation(cfg)
    check_schema_keys(cfg)


def _check_optimisation(cfg: DictConfig) -> None:
    t, m = cfg.train, cfg.model
    check(
        t.grad_clip is None or t.grad_clip > 0,
        f"train.grad_clip={t.grad_clip} must be > 0 (a max gradient norm such as 1.0), "
        "or null for no clipping",
    )
    check(t.weight_decay >= 0, f"train.weight_decay={t.weight_decay} must be >= 0 (e.g. 1e-4)")
    # The optimiser and scheduler nodes are built only once training starts: their keys and
    # the values torch would reject mid-run are checked now.
    o, s = cfg.optimizer, cfg.scheduler
    check_keys(o, "optimizer", ["params"])
    check_keys(s, "scheduler", ["optimizer"])
    if "momentum" in o:
        check(0 <= o.momentum < 1, f"optimizer.momentum={o.momentum} must be in [0, 1) (e.g. 0.9)")
    if "betas" in o:
        check(
            len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas),
            f"optimizer.betas={list(o.betas)} must be two values in [0, 1) (e.g. [0.9, 0.999])",
        )
    if "step_size" in s:
        check(s.step_size >= 1, f"scheduler.step_size={s.step_size} must be at least 1 (epochs)")
    if "gamma" in s:
        check(0 < s.gamma <= 1, f"scheduler.gamma={s.gamma} must be in (0, 1] (e.g. 0.1)")
    check(0 <= m.dropout < 1, f"model.dropout={m.dropout} must be in [0, 1) (e.g. 0.1)")
    check(m.head_hidden >= 0, f"model.head_hidden={m.head_hidden} must be >= 0")
    if str(t.precision) not in PRECISIONS:
        raise choices_error("train.precision", t.precision, list(PRECISIONS))


def check_schema_keys(cfg: DictConfig) -> None:
    """`+key=value` adds keys Hydra's struct mode would reject: refuse any key the schema
    (mmc.config.schema) does not define outside the free-form groups."""

    def walk(schema: type, node: DictConfig, prefix: str) -> None:
        fields = {f.name: f for f in dataclasses.fields(schema)}
        for key in node:
            if key not in fields:
                close = difflib.get_close_matches(str(key), list(fields), n=1)
                hint = f"did you mean {prefix}{close[0]}?" if close else (
                    f"valid keys: {', '.join(fields)}")  # fmt: skip
                raise ConfigError(f"unknown config key '{prefix}{key}'; {hint}")
            sub = (
                fields[key].default_factory
                if fields[key].default_factory is not dataclasses.MISSING
                else None
            )
            if dataclasses.is_dataclass(sub) and isinstance(node[key], DictConfig):
                walk(sub, node[key], f"{prefix}{key}.")

    walk(MmcConfig, cfg, "")
