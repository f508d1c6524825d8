"""Modality names in the config: checks that need the data set's modalities, and the
`weakest`/`strongest` aliases a data set may declare."""

from __future__ import annotations

from omegaconf import DictConfig

from mmc.errors import ConfigError, choices_error


def validate_modalities(cfg: DictConfig, modalities: list[str], info: dict) -> None:
    """Checks that need the data set's modality names."""
    for key in ("missing_modalities", "test_missing_modalities"):
        for m in cfg.data[key] or []:
            if m not in modalities:
                raise choices_error(f"data.{key} entry", m, modalities)
    if cfg.data.noise_rate > 0:
        resolve_modality(cfg.data.noise_modality, modalities, info, "data.noise_modality")


def resolve_modality(name: str, modalities: list[str], info: dict, option: str) -> str:
    """A modality name, or 'weakest'/'strongest' as the data set declares them."""
    if name in ("weakest", "strongest"):
        if name not in info:
            raise ConfigError(
                f"{option}={name} but this data set does not declare its {name} modality; "
                f"name one of: {', '.join(modalities)}"
            )
        return info[name]
    if name not in modalities:
        raise choices_error(option, name, ["weakest", "strongest", *modalities])
    return name
