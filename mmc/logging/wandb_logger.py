"""Weights & Biases: one run per job, `epoch` as the step metric, offline without an API key.

What a researcher sees: per-epoch line charts that overlay the modalities (contribution,
effective and numerical rank, the task metric with each modality masked), redrawn at every
diagnostics epoch so they grow while the run trains; final values under `test/...`; the
group options in words in the config (`dataset`, `backbone`, `remedy`) to group the runs
table by; `job_type` = the remedy; the console; the run's own record as an artifact.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from pathlib import Path

from mmc.errors import ConfigError
from mmc.logging.base import ExperimentLogger
from mmc.logging.recorder import RunRecorder
from mmc.sweep.overrides import sweep_identity
from mmc.utils.checkpoint import BEST

log = logging.getLogger("mmc")
MODES = ("auto", "online", "offline", "disabled")
# wandb's older spellings of WANDB_MODE.
ENV_MODES = {"dryrun": "offline", "run": "online"}
# Config groups whose option name (not the node) goes in the W&B config under the group's name.
READABLE = ("dataset", "backbone", "remedy")
# The run's own record, logged as one artifact when the run ends (whatever of it exists).
RECORD_FILES = ("config.yaml", "summary.json", "metrics.jsonl", "failure.json", "distill.jsonl")


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
        log_checkpoints: bool = False,
        charts_every_s: float = 10.0,
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
        self.log_checkpoints, self.charts_every_s = log_checkpoints, charts_every_s
        self._charts_drawn = -math.inf
        self.run = None
        self.run_dir: Path | None = None
        self.history: dict[int, dict] = {}

    def start(self, config, run_dir, name, tags, group=None, choices=None):
        import wandb

        mode = self.mode
        if mode == "auto":
            mode = "online" if _has_api_key() else "offline"
        self.run_dir = Path(run_dir)
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
        experiment = next((t.split(":", 1)[1] for t in tags if t.startswith("experiment:")), None)
        self.run = wandb.init(
            project=self.project,
            entity=self.entity,
            mode=mode,
            group=self.group or group or sweep_group,
            job_type=(choices or {}).get("remedy"),
            dir=str(self.dir or run_dir),
            name=name,
            tags=tags,
            id=run_id,
            resume="allow",
            config=readable_config(config, choices or {}, experiment),
            reinit=self.reinit,
            # "wrap" copies what the job prints (progress, the summary table) into the run's
            # console log without redirecting file descriptors (safe under pytest and joblib).
            settings=wandb.Settings(silent=True, console="wrap"),
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
            # Kept for the charts and the best-epoch summary values at the end of the run.
            self.history.setdefault(epoch, {}).update(metrics)
            charts = {}
            now = time.monotonic()
            if (
                any(k.startswith(DIAGNOSTIC_PREFIXES) for k in metrics)
                and now - self._charts_drawn >= self.charts_every_s
            ):
                # Redrawn from the whole history: the charts grow while the run trains. Each
                # redraw stores a few small tables, so at most every charts_every_s seconds.
                charts, self._charts_drawn = line_charts(self.history), now
            self.run.log({**metrics, **charts, "epoch": epoch})

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
            for k, v in summary_values(values, self.history).items():
                self.run.summary[k] = v
            for k, v in best_epoch_values(self.history, values.get("best_epoch")).items():
                self.run.summary[k] = v
            if self.history:  # the final curves, whatever the redraw cadence skipped
                last = max(self.history)
                self.run.log({**line_charts(self.history), "epoch": last})

    def finish(self, exit_code=0):
        if self.run is not None:
            try:
                self._log_record()
            finally:
                self.run.finish(exit_code=exit_code)
                self.run = None

    def _log_record(self) -> None:
        """summary.json, metrics.jsonl, config.yaml (and best.pt with log_checkpoints)."""
        import wandb

        if self.run_dir is None:
            return
        files = [self.run_dir / f for f in RECORD_FILES if (self.run_dir / f).exists()]
        if files:
            record = wandb.Artifact(f"record-{self.run.id}", type="run-record")
            for f in files:
                record.add_file(str(f), name=f.name)
            self.run.log_artifact(record)
        best = self.run_dir / BEST
        if self.log_checkpoints and best.exists():
            model = wandb.Artifact(f"model-{self.run.id}", type="model")
            model.add_file(str(best), name=best.name)  # best.pt: the tested weights
            self.run.log_artifact(model, aliases=["best"])


def readable_config(config: dict, choices: dict[str, str], experiment: str | None = None) -> dict:
    """The W&B config: `dataset`, `backbone`, `remedy` (and `experiment`) as option names a
    runs table can group by; each group's full node moves to `<group>_config`."""
    out = dict(config)
    for group in READABLE:
        if group in choices:
            if group in out:
                out[f"{group}_config"] = out.pop(group)
            out[group] = choices[group]
    if experiment:
        out["experiment"] = experiment
    return out


# History keys that come from the collapse diagnostics (they trigger a chart redraw).
DIAGNOSTIC_PREFIXES = ("rank/", "contribution/", "val_masked/")


def line_charts(history: dict[int, dict]) -> dict:
    """wandb.plot.line_series charts that overlay the modalities, one per quantity:
    charts/contribution, charts/<kind>_rank (effective, numerical, ...) and
    charts/val_masked/<metric> (all modalities vs each one masked)."""
    import wandb

    charts = {}
    for key, (title, series) in chart_series(history).items():
        xs, ys, names = [], [], []
        for label, points in series.items():
            if points:
                xs.append([e for e, _ in points])
                ys.append([v for _, v in points])
                names.append(label)
        if names:
            charts[key] = wandb.plot.line_series(
                xs=xs, ys=ys, keys=names, title=title, xname="epoch"
            )
    return charts


def chart_series(history: dict[int, dict]) -> dict[str, tuple[str, dict[str, list]]]:
    """{chart key: (title, {line label: [(epoch, value), ...]})}, NaN points dropped.

    Generic over the keys present, so diagnostics added later (a new rank statistic, a new
    metric) get their chart without touching this function."""
    epochs = sorted(history)
    keys = sorted({k for e in epochs for k in history[e]})

    def points(key: str) -> list:
        return [
            (e, float(history[e][key]))
            for e in epochs
            if isinstance(history[e].get(key), (int, float))
            and not math.isnan(float(history[e][key]))
        ]

    charts: dict[str, tuple[str, dict[str, list]]] = {}
    contrib = {k.split("/", 1)[1]: points(k) for k in keys if k.startswith("contribution/")}
    if contrib:
        charts["charts/contribution"] = (
            "contribution: val metric drop when the modality is masked",
            contrib,
        )
    kinds = sorted({k.split("/")[2] for k in keys if k.startswith("rank/") and k.count("/") == 2})
    for kind in kinds:
        series = {
            k.split("/")[1]: points(k)
            for k in keys
            if k.startswith("rank/") and k.count("/") == 2 and k.endswith(f"/{kind}")
        }
        charts[f"charts/{kind}_rank"] = (f"{kind} rank of each representation", series)
    metrics = sorted({k.split("/")[2] for k in keys if k.startswith("val_masked/")})
    for metric in metrics:
        series = {"all modalities": points(f"val_probe/{metric}")}
        for k in keys:
            if k.startswith("val_masked/") and k.endswith(f"/{metric}"):
                series[f"{k.split('/')[1]} masked"] = points(k)
        charts[f"charts/val_masked/{metric}"] = (
            f"val {metric}: all vs one modality masked",
            series,
        )
    return charts


def summary_values(values: dict, history: dict[int, dict]) -> dict:
    """The end-of-run summary with the final (test-split) values moved out of the way of the
    history keys: contribution/m0 -> test/contribution/m0, rank/... -> test/rank/...,
    test_masked/m0/auroc -> test/masked/m0/auroc; the best epoch's val/... -> best/val/...
    Keys no epoch logged stay as they are (test/auroc, collapse/gap, unimodal/...)."""
    logged = {k for rec in history.values() for k in rec}
    out = {}
    for key, value in values.items():
        if key.startswith("test_masked/"):
            key = "test/masked/" + key[len("test_masked/") :]
        elif key.startswith("val/"):
            key = "best/" + key
        elif key in logged and not key.startswith("test/") and key != "epoch":
            key = "test/" + key
        out[key] = value
    return out


def best_epoch_values(history: dict[int, dict], best_epoch: int | None) -> dict:
    """`best/<metric>` for everything logged at the best epoch (the checkpoint tested)."""
    if best_epoch is None or best_epoch not in history:
        return {}
    return {f"best/{k}": v for k, v in history[best_epoch].items() if isinstance(v, (int, float))}
