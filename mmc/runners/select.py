"""Which runner an experiment goes to, and what that runner refuses.

The data set's task picks the runner (`dataset.task: retrieval` -> retrieval, anything else
-> classification). A remedy declares its runner (`Remedy.runner`, RepBlend's "retrieval");
a remedy on the other runner's data set, or a key or group the chosen runner never reads
(a backbone on a retrieval run, a coreset on a classification run) is one ConfigError line
naming them, instead of a run that silently ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from omegaconf import DictConfig, OmegaConf

from mmc.config.build import resolve_target
from mmc.config.schema import MmcConfig
from mmc.errors import ConfigError
from mmc.remedies.base import Remedy

CONF = "mmc.conf"


@dataclass(frozen=True)
class RunnerSpec:
    name: str
    # Top-level keys it never reads: refused unless they keep the schema's default.
    unused_keys: tuple[str, ...] = ()
    # Config groups it never reads: refused unless they keep the default option unchanged.
    unused_groups: tuple[str, ...] = ()


CLASSIFICATION = RunnerSpec(
    "classification", unused_keys=("data.coreset", "data.num_pairs"), unused_groups=()
)
RETRIEVAL = RunnerSpec(
    "retrieval",
    unused_keys=(
        "substitution",
        "data.missing_rate",
        "data.test_missing_rate",
        "data.missing_modalities",
        "data.test_missing_modalities",
        "data.noise_rate",
        "data.noise_modality",
        "data.noise_splits",
        "data.corruption_seed",
        "data.modality_weight",
        "data.weighted_modality",
        "model.dim",
        "model.head_hidden",
        "model.dropout",
        "train.precision",
        "train.monitor",
        "diagnostics.every",
        "diagnostics.probe_size",
        "diagnostics.rank_rtol",
        "diagnostics.unimodal_epochs",
        "diagnostics.unimodal_patience",
        "diagnostics.unimodal_min_epochs",
        "diagnostics.extra",
    ),  # fmt: skip
    unused_groups=("backbone",),
)
# dataset.task -> runner; every other task (unset, mortality, readmission) is classification.
TASK_RUNNERS = {"retrieval": RETRIEVAL}


def runner_of_task(task: str | None) -> RunnerSpec:
    return TASK_RUNNERS.get(task, CLASSIFICATION)


@cache
def _conf(path: str) -> DictConfig:
    return OmegaConf.create(resources.files(CONF).joinpath(path).read_text())


def default_option(group: str) -> str:
    """The option conf/config.yaml's defaults list picks for `group` (e.g. concat)."""
    for entry in _conf("config.yaml").defaults:
        if isinstance(entry, DictConfig) and group in entry:
            return str(entry[group])
    raise KeyError(group)


def dataset_task(option: str) -> str | None:
    text = resources.files(CONF).joinpath(f"dataset/{option}.yaml").read_text()
    node = _conf(f"dataset/{option}.yaml")
    if text.startswith("# @package _global_"):
        node = node.get("dataset") or {}
    return node.get("task")


def datasets_of(runner: RunnerSpec) -> list[str]:
    files = resources.files(CONF).joinpath("dataset").iterdir()
    names = [p.name.removesuffix(".yaml") for p in files if p.name.endswith(".yaml")]
    return sorted(n for n in names if runner_of_task(dataset_task(n)) is runner)


def _ignored(cfg: DictConfig, runner: RunnerSpec, choices: dict[str, str]) -> list[str]:
    defaults = OmegaConf.structured(MmcConfig)
    out = []
    for key in runner.unused_keys:
        value = _plain(OmegaConf.select(cfg, key))
        if value != _plain(OmegaConf.select(defaults, key)):
            out.append(f"{key}={_show(value)}")
    for group in runner.unused_groups:
        option = default_option(group)
        if _plain(cfg[group]) != _plain(_conf(f"{group}/{option}.yaml")):
            out.append(f"{group}={choices.get(group, cfg[group].get('_target_'))}")
    return out


def _plain(value):
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _show(value) -> str:
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def check_runner(cfg: DictConfig, choices: dict[str, str]) -> RunnerSpec:
    """The runner of this config; ConfigError for a remedy or keys it cannot use."""
    runner = runner_of_task(cfg.dataset.get("task"))
    remedy_cls = resolve_target(str(cfg.remedy._target_), "remedy")
    remedy_runner = getattr(remedy_cls, "runner", CLASSIFICATION.name)
    dataset = choices.get("dataset", cfg.dataset.get("name"))
    # remedy=none is the bare interface: it changes nothing, so every runner takes it.
    if remedy_cls is not Remedy and remedy_runner != runner.name:
        if runner is RETRIEVAL:
            raise ConfigError(
                f"remedy={choices['remedy']} does not apply to retrieval data sets; use "
                "remedy=none (optionally with data.coreset=random|herding|kcenter) or "
                "remedy=repblend"
            )
        other = next(r for r in (CLASSIFICATION, RETRIEVAL) if r.name == remedy_runner)
        raise ConfigError(
            f"remedy={choices['remedy']} runs on {other.name} data sets (dataset="
            f"{', '.join(datasets_of(other))}); dataset={dataset} is a {runner.name} data set"
        )
    ignored = _ignored(cfg, runner, choices)
    if ignored:
        raise ConfigError(
            f"dataset={dataset} runs on the {runner.name} runner, which does not use "
            f"{', '.join(ignored)}; drop them"
        )
    return runner
