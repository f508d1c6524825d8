"""`mmc <command> [args]`: dispatch to Hydra-powered subcommands.

`mmc train` keeps every Hydra flag (-m, --cfg job, --help, hydra/launcher=...). Before Hydra
runs, every job of the requested sweep is composed and validated, so a bad option fails
with one line and exit code 2 before any job starts or any file is written.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mmc.errors import ConfigError, MmcError, fail

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


# Launchers whose jobs run on this machine: the device is checked here, before launching.
LOCAL_LAUNCHERS = (
    "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    "hydra_plugins.mmc_launcher.mmc_launcher.MmcLocalLauncher",
)


def _hydra_node(job: list[str], config_name: str) -> DictConfig:
    """Hydra's own config (launcher, sweeper) of one job."""
    from hydra import compose

    from mmc.config.compose import composition_error, hydra_context

    with hydra_context():
        try:
            return compose(config_name=config_name, overrides=job, return_hydra_config=True).hydra
        except Exception as e:
            raise composition_error(e, job, config_name) from None


def _config_loader():
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().config_loader()


def validate_command_line(argv: list[str]) -> None:
    """Compose and check each job the command line asks for; raise MmcError on the first bad one."""
    from hydra._internal.utils import get_args_parser

    from mmc.config.compose import compose_config, hydra_context
    from mmc.config.validate import validate_config
    from mmc.sweep.expand import first_job, sweep_jobs
    from mmc.utils.device import select_device

    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.info or args.shell_completion:
        return
    if args.config_path:
        return  # a whole user config tree: Hydra itself reports its errors
    # --config-dir (a lab's launcher preset, extra groups) joins the search path.
    extra = (
        [f"hydra.searchpath=[file://{Path(args.config_dir).resolve()}]"] if args.config_dir else []
    )
    config_name = args.config_name or "config"
    with hydra_context():
        loader = _config_loader()
        hydra = _hydra_node(first_job(args.overrides, loader) + extra, config_name)
        params = hydra.sweeper.get("params") if args.multirun else None
        params = OmegaConf.to_container(params) if params else {}
        jobs = sweep_jobs(args.overrides, params, loader) if args.multirun else [args.overrides]
    launcher = str(hydra.launcher.get("_target_", ""))
    local = not args.multirun or launcher in LOCAL_LAUNCHERS
    for job in jobs:
        cfg = compose_config(job + extra, config_name=config_name)
        if cfg.resume:
            continue  # the saved config is validated when the run resumes
        check_added_keys(cfg, job)
        validate_config(cfg)
        if cfg.devices and not local:
            raise ConfigError(
                f"devices={list(cfg.devices)} names GPUs of this machine, but "
                f"hydra/launcher={hydra.runtime.choices.get('hydra/launcher')} runs each job on "
                "a node where it sees only the GPUs given to it; drop devices and ask for GPUs "
                "with hydra/launcher=slurm_gpu (or hydra.launcher.gpus_per_node=N) and device=cuda"
            )
        if not local:
            continue  # the device is checked on the compute node, when the job starts
        select_device(cfg.device)
        if cfg.devices:  # fail before launching, not once per job
            from mmc.sweep.devices import device_for_job

            device_for_job(cfg.devices, 0)


def check_added_keys(cfg: DictConfig, job: list[str]) -> None:
    """`+train.lrr=1` adds a key nothing reads: reject it like any unknown key."""
    import dataclasses
    import difflib

    for override in job:
        if not override.startswith("+") or "=" not in override:
            continue
        key = override.split("=", 1)[0].lstrip("+")
        if "@" in key or OmegaConf.select(cfg, key, default=None) is None:
            continue  # a config group added (+experiment=...), not a value
        parent_key, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
        schema = OmegaConf.get_type(parent) if isinstance(parent, DictConfig) else None
        if schema is None or not dataclasses.is_dataclass(schema):
            continue  # a free-form node (a _target_'s arguments): the target checks them
        fields = [f.name for f in dataclasses.fields(schema)]
        if leaf in fields:
            continue
        close = difflib.get_close_matches(leaf, fields, n=1)
        where = f"{parent_key}." if parent_key else ""
        hint = f"did you mean {where}{close[0]}?" if close else f"valid keys: {', '.join(fields)}"
        raise ConfigError(f"unknown config key {key!r} (added with +); {hint}")


def train_main(argv: list[str]) -> int | None:
    try:
        validate_command_line(argv)
    except MmcError as e:
        fail(e)
    argv = _with_resume_dir(_with_sweeper_direction(argv))
    # Hydra names the completion script's command after argv[0]: the `mmc` executable.
    completing = any(a in ("-sc", "--shell-completion") for a in argv)
    sys.argv = ["mmc" if completing else "mmc train", *argv]
    from mmc.app import hydra_train

    hydra_train()
    return 0


def _with_sweeper_direction(argv: list[str]) -> list[str]:
    """Optuna minimises by default; jobs return a validation metric where higher is better."""
    if "hydra/sweeper=optuna" in argv and not any(
        a.startswith("hydra.sweeper.direction=") for a in argv
    ):
        return [*argv, "hydra.sweeper.direction=maximize"]
    return argv


def _with_resume_dir(argv: list[str]) -> list[str]:
    """`resume=<dir>` continues in <dir>: point Hydra's own run directory there too."""
    for arg in argv:
        if arg.startswith("resume=") and arg != "resume=null":
            return [*argv, f"hydra.run.dir={arg.split('=', 1)[1]}"]
    return argv


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
    return train_main(["-sc", *argv]) or 0


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
    if command == "train":
        return train_main(rest) or 0
    module = importlib.import_module(COMMANDS[command][0])
    try:
        return module.main(rest) or 0
    except MmcError as e:
        fail(e)
    return 0


if __name__ == "__main__":  # `python -m mmc.cli`
    sys.exit(main())
