"""`mmc train`: the Hydra entry point; all the work happens in `mmc.train.train(cfg)`.

`mmc train` keeps every Hydra flag (-m, --cfg job, --help, -sc, hydra/launcher=...). Before
Hydra runs, every job of the requested sweep is composed and validated, so a bad option fails
with one line and exit code 2 before any job starts or any file is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra import compose
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from mmc.config.compose import compose_config, composition_error, hydra_context
from mmc.config.schema import register_configs
from mmc.config.validate import validate_config
from mmc.errors import ConfigError, MmcError, fail, interrupted
from mmc.runners.lifecycle import GROUPS, choices
from mmc.runners.select import check_runner
from mmc.sweep.devices import device_for_job, register_resolvers
from mmc.sweep.expand import MAX_COMBINATIONS, first_job, sweep_jobs
from mmc.sweep.jobs import conflict_error, in_multirun, job_conflict, run_sweep_job
from mmc.sweep.launcher import register_launchers
from mmc.sweep.objective import objective
from mmc.train import train
from mmc.utils import rundir
from mmc.utils.device import select_device

register_configs()
register_resolvers()
register_launchers()

# Launchers whose jobs run on this machine: the device is checked here, before launching.
LOCAL_LAUNCHERS = (
    "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    "hydra_plugins.mmc_launcher.mmc_launcher.MmcLocalLauncher",
)


@hydra.main(version_base="1.3", config_path="pkg://mmc.conf", config_name="config")
def hydra_train(cfg: DictConfig) -> float:
    if in_multirun():
        # A failing job records failure.json and returns; its siblings carry on.
        summary = run_sweep_job(cfg, train)
    else:
        run_dir = HydraConfig.get().runtime.output_dir
        try:
            if cfg.devices:  # a single run takes the first listed GPU
                cfg.device = device_for_job(cfg.devices, 0)
            summary = train(cfg)
        except MmcError as e:
            rundir.discard_if_unused(run_dir)  # a run that failed starting leaves nothing
            fail(e)
        except OSError as e:  # a full or read-only disk outside the checkpoint writer
            rundir.discard_if_unused(run_dir)
            fail(f"cannot write {e.filename or run_dir} ({e.strerror or e}); free disk space "
                 "or choose a writable hydra.run.dir")  # fmt: skip
    # Sweepers (e.g. Optuna) optimise the VALIDATION metric; NaN marks a failed job.
    return objective(summary)


def _hydra_node(job: list[str], config_name: str) -> DictConfig:
    """Hydra's own config (launcher, sweeper) of one job."""
    with hydra_context():
        try:
            return compose(config_name=config_name, overrides=job, return_hydra_config=True).hydra
        except Exception as e:
            raise composition_error(e, job, config_name) from None


def _config_loader():
    return GlobalHydra.instance().config_loader()


def validate_command_line(argv: list[str]) -> None:
    """Compose and check each job the command line asks for; raise MmcError on the first bad one."""
    args = get_args_parser().parse_args(argv)
    # Hydra raises a bare ValueError (a traceback) when these are combined
    modes = [("-m", args.multirun), ("--cfg", args.cfg is not None), ("--info", bool(args.info)),
             ("--shell-completion", args.shell_completion)]  # fmt: skip
    if sum(on for _, on in modes) > 1:
        both = " and ".join(name for name, on in modes if on)
        raise ConfigError(
            f"{both} cannot be combined: Hydra does one of them per command (to see a sweep "
            "job's config, drop -m and give that job's values)"
        )
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
        hydra_node = _hydra_node(first_job(args.overrides, loader) + extra, config_name)
        params = hydra_node.sweeper.get("params") if args.multirun else None
        params = OmegaConf.to_container(params) if params else {}
        jobs = sweep_jobs(args.overrides, params, loader) if args.multirun else [args.overrides]
    launcher = str(hydra_node.launcher.get("_target_", ""))
    local = not args.multirun or launcher in LOCAL_LAUNCHERS
    composed = []
    for job in jobs:
        cfg = compose_config(job + extra, config_name=config_name)
        if cfg.resume:
            rundir.check_resume(cfg, job)  # a missing dir or a changed config: refused here
            continue  # the saved config itself is validated when the run resumes
        validate_config(cfg)
        # Option names as typed (remedy=kd), over the class names compose alone can give.
        typed = dict(o.split("=", 1) for o in job if "=" in o and o.split("=", 1)[0] in GROUPS)
        check_runner(cfg, {**choices(cfg), **typed})
        composed.append(cfg)
        if cfg.devices and not local:
            raise ConfigError(
                f"devices={list(cfg.devices)} names GPUs of this machine, but "
                f"hydra/launcher={hydra_node.runtime.choices.get('hydra/launcher')} runs each "
                "job on a node where it sees only the GPUs given to it; drop devices and ask "
                "for GPUs with hydra/launcher=slurm_gpu (or hydra.launcher.gpus_per_node=N) "
                "and device=cuda"
            )
        if not local:
            continue  # the device is checked on the compute node, when the job starts
        select_device(cfg.device)
        if cfg.devices:  # fail before launching, not once per job
            device_for_job(cfg.devices, 0)
    # Before Hydra writes .hydra/ anywhere: never into a directory holding another run.
    explicit = _explicit(args.overrides, "hydra.sweep.dir" if args.multirun else "hydra.run.dir")
    # Job numbers are positions in the full sweep: checked when every job was composed.
    every_job = len(composed) == len(jobs) and len(jobs) <= MAX_COMBINATIONS
    if (
        args.multirun
        and every_job
        and explicit
        and "hydra.sweep.subdir" not in " ".join(args.overrides)
    ):
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


def main(argv: list[str]) -> int | None:
    try:
        validate_command_line(argv)
        argv = _with_resume_dir(_with_sweeper_direction(argv))
        if "-m" not in argv and "--multirun" not in argv:
            # Two runs into one directory: the second is refused before Hydra writes there.
            target = _explicit(argv, "run_dir") or _explicit(argv, "hydra.run.dir")
            if target:
                rundir.lock(Path(target))
    except MmcError as e:
        fail(e)
    # Hydra names the completion script's command after argv[0]: the `mmc` executable.
    completing = any(a in ("-sc", "--shell-completion") for a in argv)
    sys.argv = ["mmc" if completing else "mmc train", *argv]
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


def _with_sweeper_direction(argv: list[str]) -> list[str]:
    """Optuna minimises by default; jobs return a validation metric where higher is better."""
    if "hydra/sweeper=optuna" in argv and not any(
        a.startswith("hydra.sweeper.direction=") for a in argv
    ):
        return [*argv, "hydra.sweeper.direction=maximize"]
    return argv


def _with_resume_dir(argv: list[str]) -> list[str]:
    """`resume=<dir>` continues in <dir>: point Hydra's run directory there too, and keep the
    original .hydra/ records (config, overrides) instead of overwriting them."""
    for arg in argv:
        if arg.startswith("resume=") and arg != "resume=null":
            return [*argv, f"hydra.run.dir={arg.split('=', 1)[1]}", "hydra.output_subdir=null"]
    return argv
