"""`mmc <command> [args]`: dispatch to Hydra-powered subcommands.

Each command's module is imported only when that command runs (`mmc report` does not load
torch). `mmc train` lives in mmc/app.py.
"""

from __future__ import annotations

import importlib
import sys

from mmc.errors import MmcError, fail

# name -> (module with a `main(argv) -> int | None`, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("mmc.app", "train one experiment, or a sweep with -m (Hydra overrides)"),
    "prepare": (
        "mmc.prepare",
        "build and cache a data set (e.g. mmc prepare dataset=mimic dataset.root=...)",
    ),
    "report": (
        "mmc.report.cli",
        "tables, Wilcoxon/Holm tests and plots of a sweep (mmc report <sweep dir>)",
    ),
}

USAGE = """usage: mmc <command> [hydra overrides and flags]

commands:
{commands}

examples:
  mmc train                                   # the embedded default, < 1 min on a laptop CPU
  mmc train dataset=mimic backbone=muse remedy=ebr
  mmc train -m remedy=none,kd,ebr data.missing_rate=0.1,0.3,0.5,0.7
  mmc train --cfg job                         # print the composed config
  mmc train --help                            # config groups and their options
"""


def usage() -> str:
    width = max(map(len, COMMANDS))
    return USAGE.format(
        commands="\n".join(f"  {n:<{width}}  {h}" for n, (_, h) in COMMANDS.items())
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        fail(f"unknown command {command!r}; use one of: {', '.join(COMMANDS)} (see mmc --help)")
    module = importlib.import_module(COMMANDS[command][0])
    try:
        return module.main(rest) or 0
    except MmcError as e:
        fail(e)
    return 0


if __name__ == "__main__":  # `python -m mmc.cli`
    sys.exit(main())
