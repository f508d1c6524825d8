"""Weights & Biases: one run per job, `epoch` as the step metric, offline without an API key."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from mmc.errors import ConfigError
from mmc.logging.base import ExperimentLogger
from mmc.logging.recorder import RunRecorder
from mmc.sweep.overrides import sweep_identity

log = logging.getLogger("mmc")
MODES = ("auto", "online", "offline", "disabled")
# wandb's older spellings of WANDB_MODE.
ENV_MODES = {"dryrun": "offline", "run": "online"}


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


class WandbLogger(ExperimentLogger):
    # mmc.batched_seeds keeps several runs open in one process ("create_new").
    reinit = "finish_previous"

    def __init__(
        self,
        project: str | None = None,
        entity: str | None = None,
        mode: str = "auto",
        group: str | None = None,
        dir: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"logger.mode={mode!r} is not valid; use one of: {', '.join(MODES)}")
        # A value set in the config wins; left at null/auto, W&B's environment variables
        # (WANDB_PROJECT, WANDB_ENTITY, WANDB_MODE, WANDB_DIR) apply, as in any W&B script.
        env_mode = os.environ.get("WANDB_MODE", "").strip().lower()
        env_mode = ENV_MODES.get(env_mode, env_mode)
        if mode == "auto" and env_mode:
            if env_mode not in MODES:
                raise ConfigError(
                    f"WANDB_MODE={env_mode!r} is not valid; use one of: {', '.join(MODES)} "
                    "(or set logger.mode)"
                )
            mode = env_mode
        self.project = project or os.environ.get("WANDB_PROJECT") or "mmc"
        self.entity = entity or os.environ.get("WANDB_ENTITY") or None
        self.dir = dir or os.environ.get("WANDB_DIR") or None
        self.mode, self.group = mode, group
        self.run = None
        self.history: dict[int, dict] = {}

    def start(self, config, run_dir, name, tags, group=None):
        import wandb

        mode = self.mode
        if mode == "auto":
            mode = "online" if _has_api_key() else "offline"
        # The run id lives in the run directory so that `resume=<dir>` continues the same run.
        id_file = run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:12]
        id_file.write_text(run_id + "\n")
        # On resume the epochs before the checkpoint come from the run's own record.
        self.history = {r["epoch"]: r for r in RunRecorder(run_dir).read_metrics() if "epoch" in r}
        sweep_group, sweep_name, sweep_tags = sweep_identity()
        if sweep_name and not config.get("name"):
            name = sweep_name  # the overrides that vary across the sweep
        tags = [*tags, *(t for t in sweep_tags if t not in tags)]
        self.run = wandb.init(
            project=self.project,
            entity=self.entity,
            mode=mode,
            group=self.group or group or sweep_group,
            dir=str(self.dir or run_dir),
            name=name,
            tags=tags,
            id=run_id,
            resume="allow",
            config=config,
            reinit=self.reinit,
            settings=wandb.Settings(silent=True, console="off"),
        )
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")
        if mode == "offline":
            log.info(
                "W&B is offline (no API key): upload later with `wandb sync %s`",
                self.run.dir.rsplit("/files", 1)[0],
            )

    def log(self, metrics, epoch):
        if self.run is not None:
            self.run.log({**metrics, "epoch": epoch})
            # Kept for the end of the run: best-epoch summary values and the rank chart.
            self.history.setdefault(epoch, {}).update(metrics)

    def log_table(self, key, columns, rows):
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Table(columns=columns, data=rows)})

    def log_image(self, key, image, epoch):
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Image(image), "epoch": epoch})

    def summary(self, values):
        if self.run is not None:
            for k, v in values.items():
                self.run.summary[k] = v
            for k, v in best_epoch_values(self.history, values.get("best_epoch")).items():
                self.run.summary[k] = v
            self._log_rank_chart()

    def _log_rank_chart(self) -> None:
        """Effective rank of each representation over epochs, as one line chart."""
        import wandb

        curves = rank_curves(self.history)
        if curves:
            epochs = sorted(self.history)
            chart = wandb.plot.line_series(
                xs=epochs,
                ys=list(curves.values()),
                keys=list(curves),
                title="effective rank over epochs",
                xname="epoch",
            )
            self.run.log({"charts/effective_rank": chart})

    def finish(self, exit_code=0):
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None


def best_epoch_values(history: dict[int, dict], best_epoch: int | None) -> dict:
    """`best/<metric>` for everything logged at the best epoch (the checkpoint tested)."""
    if best_epoch is None or best_epoch not in history:
        return {}
    return {f"best/{k}": v for k, v in history[best_epoch].items() if isinstance(v, (int, float))}


def rank_curves(history: dict[int, dict], kind: str = "effective") -> dict[str, list[float]]:
    """{"fused": [r0, r1, ...], "m0": [...]} over the logged epochs (NaN where not measured)."""
    keys = {k for rec in history.values() for k in rec}
    keys = sorted(k for k in keys if k.startswith("rank/") and k.endswith(f"/{kind}"))
    epochs = sorted(history)
    return {k.split("/")[1]: [history[e].get(k, float("nan")) for e in epochs] for k in keys}
