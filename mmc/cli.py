"""`mmc <command> [args]`: dispatch to Hydra-powered subcommands.

`mmc train` keeps every Hydra flag (-m, --cfg job, --help, hydra/launcher=...). Before Hydra
runs, every job of the requested sweep is composed and validated, so a bad option fails
with one line and exit code 2 before any job starts or any file is written.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from mmc.errors import MmcError, fail

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C

# name -> (module with a `main(argv) -> int | None`, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("mmc.cli", "train one experiment, or a sweep with -m (Hydra overrides)"),
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


def _sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """Every job's override list of a (possibly multirun) command line."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:  # Hydra's grammar errors
        raise MmcError(" ".join(str(e).split())) from None
    batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return [job for batch in batches for job in batch]


def validate_command_line(argv: list[str]) -> None:
    """Compose and check each job the command line asks for; raise MmcError on the first bad one."""
    from hydra._internal.utils import get_args_parser

    from mmc.config.compose import compose_config
    from mmc.config.validate import validate_config
    from mmc.utils.device import select_device

    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.info or args.shell_completion:
        return
    if args.config_path or args.config_dir:
        return  # a user config tree: Hydra itself reports its errors
    from mmc.utils import rundir

    jobs = _sweep_jobs(args.overrides) if args.multirun else [args.overrides]
    composed = []
    for job in jobs:
        cfg = compose_config(job, config_name=args.config_name or "config")
        if cfg.resume:
            rundir.check_resume(cfg, job)  # a missing dir or a changed config: refused here
            continue  # the saved config itself is validated when the run resumes
        validate_config(cfg)
        select_device(cfg.device)
        if cfg.devices:  # fail before launching, not once per job
            from mmc.sweep.devices import device_for_job

            device_for_job(cfg.devices, 0)
        composed.append(cfg)
    # Before Hydra writes .hydra/ anywhere: never into a directory holding another run.
    explicit = _explicit(args.overrides, "hydra.sweep.dir" if args.multirun else "hydra.run.dir")
    if args.multirun and explicit and "hydra.sweep.subdir" not in " ".join(args.overrides):
        from mmc.sweep.jobs import conflict_error, job_conflict

        for num, cfg in enumerate(composed):
            job_dir = Path(explicit) / str(num)
            differs = job_conflict(job_dir, cfg)
            if differs is not None and not (job_dir / "failure.json").exists():
                raise conflict_error(job_dir, differs)
    elif not args.multirun and composed:
        target = composed[0].run_dir or explicit
        if target:
            rundir.check_fresh(Path(target))


def _explicit(overrides: list[str], key: str) -> str | None:
    for o in overrides:
        if o.startswith(f"{key}="):
            return o.split("=", 1)[1]
    return None


def train_main(argv: list[str]) -> int | None:
    from mmc.utils import rundir

    try:
        validate_command_line(argv)
        argv = _with_resume_dir(argv)
        if "-m" not in argv and "--multirun" not in argv:
            # Two runs into one directory: the second is refused before Hydra writes there.
            target = _explicit(argv, "run_dir") or _explicit(argv, "hydra.run.dir")
            if target:
                rundir.lock(Path(target))
    except MmcError as e:
        fail(e)
    sys.argv = ["mmc train", *argv]
    from mmc.app import hydra_train

    try:
        hydra_train()
    except KeyboardInterrupt:
        where = rundir.current()
        if "-m" in argv or "--multirun" in argv:
            hint = "re-run the same command: completed jobs are skipped, unfinished ones resume"
        elif where is not None and (where / "checkpoints" / "last.pt").exists():
            hint = f"continue with: mmc train resume={where}"
        else:
            hint = "no checkpoint was written yet; start the run again"
        interrupted(hint)
    return 0


def interrupted(hint: str) -> None:
    print(f"mmc: interrupted; {hint}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_INTERRUPTED) from None


def _with_resume_dir(argv: list[str]) -> list[str]:
    """`resume=<dir>` continues in <dir>: point Hydra's run directory there too, and keep the
    original .hydra/ records (config, overrides) instead of overwriting them."""
    for arg in argv:
        if arg.startswith("resume=") and arg != "resume=null":
            return [*argv, f"hydra.run.dir={arg.split('=', 1)[1]}", "hydra.output_subdir=null"]
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        fail(f"unknown command {command!r}; use one of: {', '.join(COMMANDS)} (see mmc --help)")
    try:
        if command == "train":
            return train_main(rest) or 0
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
