"""`build(node, option, **extra)`: instantiate a `_target_` node after checking its keys.

The one place config nodes become objects, so a misspelt key of any option (backbone,
remedy, encoder, logger, data source) fails with the same one-line message.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Iterable
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from mmc.errors import ConfigError, check


def resolve_target(path: str, option: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"{option}._target_={path!r} cannot be imported ({e})") from None


def check_keys(node: DictConfig | dict, option: str, supplied: Iterable[str] = ()) -> str:
    """ConfigError for a key of `node` its target does not take; returns the target's path.

    `supplied` are the arguments the trainer passes itself, left out of the hint.
    """
    node_dict = (
        OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    )
    target = node_dict.get("_target_")
    check(target is not None, f"{option} has no _target_; point it at a class or function")
    params = inspect.signature(resolve_target(target, option)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return target
    for key in node_dict:
        if key.startswith("_") or key in params:
            continue
        valid = [p for p in params if p not in supplied and p != "self"]
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f"did you mean {option}.{close[0]}?" if close else f"valid keys: {', '.join(valid)}"
        raise ConfigError(f"{option}.{key} is not an option of {target}; {hint}")
    return target


def build(node: DictConfig | dict, option: str, **extra: Any) -> Any:
    """`hydra.utils.instantiate` after checking the node's keys against the target's signature.

    `option` names the config node in messages (e.g. "backbone"); `extra` are the arguments
    the trainer supplies itself (modalities, dim, ...).
    """
    node_dict = (
        OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    )
    target = check_keys(node_dict, option, extra)
    try:
        # Built as a partial first: Hydra would turn dataclass arguments (a ModalitySpec)
        # into configs if they went through instantiate itself.
        return instantiate(node_dict, _partial_=True, _convert_="all")(**extra)
    except ConfigError:
        raise
    except TypeError as e:
        raise ConfigError(f"{option} ({target}) could not be built: {e}") from None
