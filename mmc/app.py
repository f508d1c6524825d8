"""`mmc train`: the Hydra entry point; all the work happens in `mmc.train.train(cfg)`.

`mmc train` keeps every Hydra flag (-m, --cfg job, --help, hydra/launcher=...). Before Hydra
runs, every job of the requested sweep is composed and validated, so a bad option fails
with one line and exit code 2 before any job starts or any file is written.
"""

from __future__ import annotations

import sys

import hydra
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from mmc.config.compose import compose_config
from mmc.config.schema import register_configs
from mmc.config.validate import validate_config
from mmc.errors import MmcError, fail
from mmc.runners.lifecycle import GROUPS, choices
from mmc.runners.select import check_runner
from mmc.sweep.devices import device_for_job, register_resolvers
from mmc.sweep.jobs import in_multirun, run_sweep_job
from mmc.train import train
from mmc.utils.device import select_device

register_configs()
register_resolvers()


@hydra.main(version_base="1.3", config_path="pkg://mmc.conf", config_name="config")
def hydra_train(cfg: DictConfig) -> float | None:
    if in_multirun():
        # A failing job records failure.json and returns; its siblings carry on.
        summary = run_sweep_job(cfg, train)
        if summary is None:
            return None
    else:
        try:
            if cfg.devices:  # a single run takes the first listed GPU
                cfg.device = device_for_job(cfg.devices, 0)
            summary = train(cfg)
        except MmcError as e:
            fail(e)
    # A scalar return lets Hydra sweepers (e.g. Optuna) optimise the run.
    return (summary.get("test") or {}).get(summary.get("monitor"))


def _sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """Every job's override list of a (possibly multirun) command line."""
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:  # Hydra's grammar errors
        raise MmcError(" ".join(str(e).split())) from None
    batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return [job for batch in batches for job in batch]


def validate_command_line(argv: list[str]) -> None:
    """Compose and check each job the command line asks for; raise MmcError on the first bad one."""
    args = get_args_parser().parse_args(argv)
    if args.help or args.hydra_help or args.info or args.shell_completion:
        return
    if args.config_path or args.config_dir:
        return  # a user config tree: Hydra itself reports its errors
    jobs = _sweep_jobs(args.overrides) if args.multirun else [args.overrides]
    for job in jobs:
        cfg = compose_config(job, config_name=args.config_name or "config")
        if cfg.resume:
            continue  # the saved config is validated when the run resumes
        validate_config(cfg)
        # Option names as typed (remedy=kd), over the class names compose alone can give.
        typed = dict(o.split("=", 1) for o in job if "=" in o and o.split("=", 1)[0] in GROUPS)
        check_runner(cfg, {**choices(cfg), **typed})
        select_device(cfg.device)
        if cfg.devices:  # fail before launching, not once per job
            device_for_job(cfg.devices, 0)


def main(argv: list[str]) -> int | None:
    try:
        validate_command_line(argv)
    except MmcError as e:
        fail(e)
    argv = _with_resume_dir(argv)
    sys.argv = ["mmc train", *argv]
    hydra_train()
    return 0


def _with_resume_dir(argv: list[str]) -> list[str]:
    """`resume=<dir>` continues in <dir>: point Hydra's own run directory there too."""
    for arg in argv:
        if arg.startswith("resume=") and arg != "resume=null":
            return [*argv, f"hydra.run.dir={arg.split('=', 1)[1]}"]
    return argv
