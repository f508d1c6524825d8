"""Compose configs outside `@hydra.main` (CLI pre-validation, `mmc prepare`, tests).

Every error Hydra/OmegaConf raise while composing is turned into one ConfigError line that
names the option and the valid choices.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mmc.config.schema import MmcConfig, register_configs
from mmc.errors import ConfigError

CONFIG_MODULE = "mmc.conf"


def _options(group: str) -> str:
    """The options of conf/<group>/ as `a|b|c`."""
    names = files(CONFIG_MODULE).joinpath(group).iterdir()
    return "|".join(sorted(p.name[: -len(".yaml")] for p in names if p.name.endswith(".yaml")))


# Keys that became config groups: old command lines get the new spelling, not "unknown key".
MOVED = {
    "train.optimizer": f"optimizer={_options('optimizer')}",
    "train.scheduler": f"scheduler={_options('scheduler')}",
    "train.momentum": "optimizer=sgd optimizer.momentum=...",
    "train.step_size": "scheduler=step scheduler.step_size=...",
    "train.gamma": "scheduler=step scheduler.gamma=...",
}


@contextmanager
def hydra_context() -> Iterator[None]:
    register_configs()
    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        yield


def _keys_at(path: str, overrides: list[str], config_name: str) -> list[str]:
    """Keys of the node at `path` in the config composed without the offending override."""
    others = [o for o in overrides if not o.lstrip("+~").startswith(path + ".")]
    try:
        node = (
            OmegaConf.select(compose(config_name=config_name, overrides=others), path)
            if path
            else None
        )
    except Exception:
        node = None
    if node is None and not path:
        node = OmegaConf.structured(MmcConfig)
    return [str(k) for k in node] if isinstance(node, DictConfig) else []


def composition_error(
    e: Exception, overrides: list[str] = (), config_name: str = "config"
) -> ConfigError:
    """One line out of Hydra's multi-line composition errors."""
    text = str(e)
    if isinstance(e, MissingConfigException) and e.options:
        match = re.search(r"Could not find '([^']+)'", text)
        what = match.group(1) if match else (e.missing_cfg_file or "config")
        group, _, option = what.rpartition("/")
        return ConfigError(
            f"unknown {group or 'config'} {option!r}; valid choices: {', '.join(sorted(e.options))}"
        )
    cause = str(e.__cause__ or "")
    unknown = re.search(r"Key '([^']+)' (?:is )?not in .*?full_key: (\S+)", cause, re.S)
    if unknown:
        key, full_key = unknown.groups()
        if full_key in MOVED:
            return ConfigError(f"{full_key} is now a config group setting; use {MOVED[full_key]}")
        parent = full_key.rsplit(".", 1)[0] if "." in full_key else ""
        valid = _keys_at(parent, list(overrides), config_name)
        close = difflib.get_close_matches(key, valid, n=1)
        where = f"{parent}." if parent else ""
        hint = f"did you mean {where}{close[0]}?" if close else f"valid keys: {', '.join(valid)}"
        return ConfigError(f"unknown config key {full_key!r}; {hint}")
    invalid = re.search(r"^(.*?)\n\s*full_key: (\S+)", cause, re.S)
    if invalid:
        return ConfigError(f"{invalid.group(2)}: {invalid.group(1).strip()}")
    # Hydra's "In 'x': ConfigKeyError raised while composing config:" says why on later lines.
    return ConfigError(" ".join(f"{text} {cause}".split()) or type(e).__name__)


def compose_config(overrides: list[str], config_name: str = "config") -> DictConfig:
    with hydra_context():
        try:
            return compose(config_name=config_name, overrides=list(overrides))
        except (HydraException, OmegaConfBaseException, ValueError) as e:
            raise composition_error(e, overrides, config_name) from None
