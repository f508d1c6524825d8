"""The concrete jobs a sweep will run, for checking them all before anything is launched.

Covers what Hydra's sweepers accept: comma lists, choice(), range(), glob() over a config
group's options, and interval() (Optuna and other sampling sweepers), whose two ends are
checked since the values in between are only drawn at run time. An experiment file's
`hydra.sweeper.params` join the command line's sweep, as Hydra's sweepers do (the command
line wins for a key in both).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override

from mmc.errors import MmcError

# Beyond this many jobs, check every value of every swept key once, not all combinations
# (composing one job takes ~0.1-0.5 s; a paper table has hundreds).
MAX_COMBINATIONS = 32


def override_values(override: Override) -> list[str]:
    """The value strings one override stands for (one for a plain override)."""
    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    value = override.value()
    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if "int" in (value.tags or set()) or (isinstance(low, int) and isinstance(high, int)):
            return [str(int(low)), str(int(high))]
        return [repr(float(low)), repr(float(high))]
    values = list(override.sweep_string_iterator())
    if not values:
        raise MmcError(
            f"{override.input_line} matches no value (an empty glob or range); "
            "check the pattern against the group's options (mmc train --help)"
        )
    return values


def parse(overrides: list[str], config_loader=None) -> list[Override]:
    try:
        return OverridesParser.create(config_loader=config_loader).parse_overrides(overrides)
    except Exception as e:  # Hydra's grammar errors, as one line
        raise MmcError(" ".join(str(e).split())) from None


def sweep_jobs(
    overrides: list[str],
    sweeper_params: Mapping[str, object] | None = None,
    config_loader=None,
    max_combinations: int | None = MAX_COMBINATIONS,
) -> list[list[str]]:
    """Every job's override list, in Hydra's job order; past `max_combinations` jobs (None: no
    limit), each value once instead (enough to validate every value)."""
    params = [f"{k}={v}" for k, v in (sweeper_params or {}).items()]
    by_key: dict[str, list[str]] = {}
    for o in parse(params + list(overrides), config_loader):
        key = o.get_key_element()
        by_key.pop(key, None)  # a later (command-line) value replaces the experiment's
        by_key[key] = [f"{key}={v}" for v in override_values(o)]
    columns = list(by_key.values())
    total = 1
    for c in columns:
        total *= len(c)
    if max_combinations is None or total <= max_combinations:
        return [list(job) for job in itertools.product(*columns)]
    first = [c[0] for c in columns]
    jobs = [first]
    for i, column in enumerate(columns):
        jobs += [[*first[:i], v, *first[i + 1 :]] for v in column[1:]]
    return jobs


def first_job(overrides: list[str], config_loader=None) -> list[str]:
    """The first job of a command line (its first value of every sweep)."""
    return [
        f"{o.get_key_element()}={override_values(o)[0]}"
        for o in parse(list(overrides), config_loader)
    ]
