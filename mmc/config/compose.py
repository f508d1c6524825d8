"""Compose configs outside `@hydra.main` (CLI pre-validation, `mmc prepare`, tests).

Every error Hydra/OmegaConf raise while composing is turned into one ConfigError line that
names the option and the valid choices.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from contextlib import contextmanager

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mmc.config.schema import MmcConfig, register_configs
from mmc.errors import ConfigError

CONFIG_MODULE = "mmc.conf"


@contextmanager
def hydra_context() -> Iterator[None]:
    register_configs()
    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        yield


def _unknown_key_message(text: str) -> str | None:
    match = re.search(r"Key '([^']+)' is not in struct\s+full_key: (\S+)", text)
    if not match:
        return None
    key, full_key = match.group(1), match.group(2)
    parent = full_key.rsplit(".", 1)[0] if "." in full_key else ""
    node = OmegaConf.structured(MmcConfig)
    valid = list(OmegaConf.select(node, parent).keys()) if parent and OmegaConf.select(node, parent) is not None else list(node.keys())
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f"did you mean {parent + '.' if parent else ''}{close[0]}?" if close else f"valid keys here: {', '.join(valid)}"
    return f"unknown config key {full_key!r}; {hint} (add keys that do not exist yet with +key=value)"


def composition_error(e: Exception) -> ConfigError:
    """One line out of Hydra's multi-line composition errors."""
    text = str(e)
    if isinstance(e, MissingConfigException) and e.options:
        match = re.search(r"Could not find '([^']+)'", text)
        what = match.group(1) if match else (e.missing_cfg_file or "config")
        group, _, option = what.rpartition("/")
        return ConfigError(
            f"unknown {group or 'config'} {option!r}; valid choices: {', '.join(sorted(e.options))}"
        )
    unknown = _unknown_key_message(text)
    if unknown:
        return ConfigError(unknown)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("full_key", "object_type", "reference_type"))]
    return ConfigError("; ".join(lines) or type(e).__name__)


def compose_config(overrides: list[str], config_name: str = "config") -> DictConfig:
    with hydra_context():
        try:
            return compose(config_name=config_name, overrides=list(overrides))
        except (HydraException, OmegaConfBaseException, ValueError) as e:
            raise composition_error(e) from None
