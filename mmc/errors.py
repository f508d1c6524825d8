"""User-facing errors: one line naming the problem and the fix, exit code 2, no traceback."""

from __future__ import annotations

import sys

EXIT_USAGE = 2


class MmcError(Exception):
    """Bad input (config, data file, shapes, values). The message is shown to the user as is."""


class ConfigError(MmcError):
    """A config value is invalid or an option combination is impossible."""


class DataError(MmcError):
    """A data file is missing, malformed, or has the wrong shape/dtype/values."""


def check(cond: bool, message: str, exc: type[MmcError] = ConfigError) -> None:
    """Raise `exc(message)` unless `cond`: keeps validation code one line per rule."""
    if not cond:
        raise exc(message)


def choices_error(option: str, value: object, choices: list[str] | tuple[str, ...]) -> ConfigError:
    return ConfigError(
        f"{option}={value!r} is not a valid choice; use one of: {', '.join(map(str, choices))}"
    )


def fail(error: MmcError | str) -> None:
    """Print `mmc: error: ...` on one line to stderr and exit with code 2."""
    message = " ".join(str(error).split())
    print(f"mmc: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USAGE)
