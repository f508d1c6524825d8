"""`mmc <command> [args]`: dispatch to Hydra-powered subcommands.

Each command's module is imported only when that command runs (`mmc report` does not load
torch). `mmc train` lives in mmc/app.py.
"""

from __future__ import annotations

import importlib
import os
import sys

from mmc.errors import MmcError, fail, interrupted

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


def shell_completion(argv: list[str]) -> int:
    """`mmc -sc query=bash`, run by the completer `mmc train -sc install=bash` installs.

    Completes the command name, then hands `mmc train ...` to Hydra's completion with the
    `train` word taken out of COMP_LINE (Hydra expects `<app> <overrides>`).
    """
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    if any(a.startswith("query=") for a in argv):
        if len(words) < 2 or (len(words) == 2 and not line.endswith(" ")):
            typed = words[1] if len(words) == 2 else ""
            print(" ".join(c for c in COMMANDS if c.startswith(typed)))
            return 0
        if words[1] != "train":
            return 0  # prepare/report: the shell completes file names
        head, _, tail = line.partition(" train")
        os.environ["COMP_LINE"] = head + tail
    # mmc.app (torch, Hydra) is imported only for the command that needs it, like every command.
    return importlib.import_module(COMMANDS["train"][0]).main(["-sc", *argv]) or 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command in ("-sc", "--shell-completion"):
        return shell_completion(rest)
    if command not in COMMANDS:
        fail(f"unknown command {command!r}; use one of: {', '.join(COMMANDS)} (see mmc --help)")
    try:
        module = importlib.import_module(COMMANDS[command][0])
        try:
            return module.main(rest) or 0
        except MmcError as e:
            fail(e)
    except KeyboardInterrupt:  # before a run started (composing, preparing, reporting)
        interrupted("nothing was lost; run the command again")
    return 0


if __name__ == "__main__":  # `python -m mmc.cli`
    sys.exit(main())
