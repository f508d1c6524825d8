"""The run lifecycle every runner shares.

run directory -> config.yaml -> logger started with the run's name and tags -> per-epoch
records (metrics.jsonl + logger) and checkpoints -> summary.json + logger summary -> logger
finished with the run's exit code. `resume=<run dir>` reloads the saved config and the last
checkpoint; a completed run is not run again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mmc.config.build import build
from mmc.config.compose import MOVED
from mmc.config.schema import MmcConfig
from mmc.errors import ConfigError, check
from mmc.logging.recorder import RunRecorder, flatten
from mmc.utils import rundir
from mmc.utils.checkpoint import BEST, LAST, load, save_atomic
from mmc.utils.seed import set_rng_state

log = logging.getLogger("mmc")
GROUPS = ("dataset", "backbone", "remedy", "logger")


def choices(cfg: DictConfig) -> dict[str, str]:
    """Group option names (synthetic, concat, ...) for names, tags and reports."""
    if HydraConfig.initialized():
        ch = HydraConfig.get().runtime.choices
        return {g: str(ch.get(g)) for g in GROUPS}
    # Composed without @hydra.main (tests, the compose API): the option file with this target.
    return {
        "dataset": str(cfg.dataset.get("name", "dataset")),
        **{g: option_of(g, str(cfg[g]._target_)) for g in GROUPS if g != "dataset"},
    }


def option_of(group: str, target: str) -> str:
    """conf/<group>/<option>.yaml whose `_target_` is `target`; the class name otherwise."""
    for path in sorted(files("mmc.conf").joinpath(group).iterdir(), key=lambda p: p.name):
        if path.name.endswith(".yaml") and f"_target_: {target}\n" in path.read_text():
            return path.name.removesuffix(".yaml")
    return target.rsplit(".", 1)[-1]


def run_dir(cfg: DictConfig) -> Path:
    if cfg.run_dir:
        return Path(cfg.run_dir)
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path("outputs/runs") / datetime.now().strftime("%Y-%m-%d/%H-%M-%S.%f")


def resumed_config(cfg: DictConfig) -> DictConfig:
    """`resume=<dir>`: the config saved in <dir>, to continue from its last checkpoint."""
    directory = Path(cfg.resume)
    saved = rundir.check_resume(cfg, [])  # the CLI checked the overrides already
    check(
        (directory / LAST).exists(),
        f"resume={cfg.resume}: no checkpoint yet (the run stopped before its first epoch ended); "
        "start it again without resume",
    )
    try:
        resumed = OmegaConf.merge(OmegaConf.structured(MmcConfig), saved)
    except OmegaConfBaseException as e:  # saved by an mmc whose config had other keys
        key = getattr(e, "full_key", None) or "a key"
        raise ConfigError(
            f"resume={cfg.resume}: its config.yaml has {key}, which this mmc does not know "
            f"({MOVED.get(key, 'removed')}); start the run again without resume="
        ) from None
    resumed.resume, resumed.run_dir = str(directory), str(directory)
    # Where and how it runs may change on resume (another GPU, no progress bar); nothing else.
    for key in ("device", "devices", "progress"):
        resumed[key] = cfg[key]
    return resumed


class Run:
    """One run's directory, records and logger. Build it, then `with run.active(name, tags)`."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.dir = run_dir(cfg)
        # Locked for this process's life; another run's records here are refused.
        rundir.claim(self.dir, resume=self.resuming)
        rundir.set_current(self.dir)
        self.recorder = RunRecorder(self.dir)
        # A resume reports the groups the run was started with (Hydra's record of them).
        self.choices = (self.resuming and rundir.saved_choices(self.dir)) or choices(cfg)
        self.logger = None

    @property
    def resuming(self) -> bool:
        return bool(self.cfg.resume)

    def completed_summary(self) -> dict | None:
        """The summary of a resumed run that already finished (nothing left to do)."""
        if self.resuming and self.recorder.summary_path.exists():
            log.info("run %s is already complete; nothing to resume", self.dir)
            return OmegaConf.to_container(OmegaConf.load(self.recorder.summary_path))
        return None

    def write_config(self) -> None:
        if not self.resuming:  # a resume keeps the original record
            self.recorder.write_config(self.cfg)

    def name_and_tags(self, parts: list[str], skip: tuple[str, ...] = ()) -> tuple[str, list[str]]:
        name = self.cfg.name or "-".join([*parts, f"s{self.cfg.seed}"])
        tags = [
            *self.cfg.tags,
            *(f"{g}:{c}" for g, c in self.choices.items() if g not in ("logger", *skip)),
        ]
        return name, tags

    @contextmanager
    def active(self) -> Iterator[Run]:
        """Finish the logger with exit code 0 when the block completes, 1 when it raises."""
        self.logger = build(self.cfg.logger, "logger")
        exit_code = 1
        try:
            yield self
            exit_code = 0
        finally:
            self.logger.finish(exit_code)

    def start_logger(self, name: str, tags: list[str]) -> None:
        self.logger.start(
            OmegaConf.to_container(self.cfg, resolve=True),
            self.dir,
            name,
            tags,
            choices=self.choices,
        )

    def log(self, record: dict, step: int) -> None:
        self.recorder.log(record)
        self.logger.log(record, step)

    def save_best(self, payload: dict) -> None:
        save_atomic(payload, self.dir / BEST)

    def save_last(self, payload: dict) -> None:
        save_atomic(payload, self.dir / LAST)

    def load_last(self, device: torch.device) -> dict:
        """The last checkpoint; the metrics recorded after it are dropped (they are redone)."""
        ckpt = load(self.dir / LAST, device)
        self.recorder.truncate_after(ckpt["epoch"])
        log.info("resuming %s from epoch %d", self.dir, ckpt["epoch"] + 1)
        return ckpt

    def restore(self, device: torch.device, model, opt, sched) -> dict:
        """Load the last checkpoint into the model, optimiser, scheduler and RNG; returns the
        checkpoint for the runner's own extra state."""
        ckpt = self.load_last(device)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched is not None:
            sched.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        return ckpt

    def write_summary(self, summary: dict) -> None:
        self.recorder.write_summary(summary)
        self.logger.summary(flatten(summary))
