"""Weights & Biases: one run per job, `epoch` as the step metric, offline without an API key."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from mmc.errors import ConfigError
from mmc.logging.base import ExperimentLogger

log = logging.getLogger("mmc")
MODES = ("auto", "online", "offline", "disabled")


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


class WandbLogger(ExperimentLogger):
    def __init__(
        self,
        project: str = "mmc",
        entity: str | None = None,
        mode: str = "auto",
        group: str | None = None,
        dir: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"logger.mode={mode!r} is not valid; use one of: {', '.join(MODES)}")
        self.project, self.entity, self.mode, self.group, self.dir = project, entity, mode, group, dir
        self.run = None

    def start(self, config, run_dir, name, tags, group=None):
        import wandb

        mode = self.mode
        if mode == "auto":
            mode = "online" if _has_api_key() else "offline"
        # The run id lives in the run directory so that `resume=<dir>` continues the same run.
        id_file = run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else wandb.util.generate_id()
        id_file.write_text(run_id + "\n")
        self.run = wandb.init(
            project=self.project,
            entity=self.entity,
            mode=mode,
            group=self.group or group,
            dir=str(self.dir or run_dir),
            name=name,
            tags=tags,
            id=run_id,
            resume="allow",
            config=config,
            reinit="finish_previous",
            settings=wandb.Settings(silent=True, console="off"),
        )
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")
        if mode == "offline":
            log.info("W&B is offline (no API key): upload later with `wandb sync %s`", self.run.dir.rsplit("/files", 1)[0])

    def log(self, metrics, epoch):
        if self.run is not None:
            self.run.log({**metrics, "epoch": epoch})

    def log_table(self, key, columns, rows):
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Table(columns=columns, data=rows)})

    def summary(self, values):
        if self.run is not None:
            for k, v in values.items():
                self.run.summary[k] = v

    def finish(self, exit_code=0):
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None
