"""The real config tree composes, and composition errors are one informative line."""

from pathlib import Path

import pytest

from mmc.config.compose import compose_config
from mmc.errors import ConfigError
from tests.options import GROUPS

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_option_of_every_group_composes(group):
    for option in sorted(p.stem for p in (CONF / group).glob("*.yaml")):
        cfg = compose_config([f"{group}={option}"])
        assert cfg[group] is not None, option


def test_unknown_nested_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"did you mean dataset.source.n_train\?"):
        compose_config(["dataset.source.n_trian=5"])


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match="^train.epochs: Value 'x'"):
        compose_config(["train.epochs=x"])


def test_unknown_group_option_lists_choices():
    with pytest.raises(ConfigError, match="unknown logger 'tensorboard'; valid choices: .*none"):
        compose_config(["logger=tensorboard"])
