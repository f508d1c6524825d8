"""Protection of run directories: a completed or running result is never overwritten.

- `check_fresh(dir)`: refuse a directory that already holds another run's records.
- `lock(dir)`: an exclusive `flock` on `<dir>/.mmc.lock` for as long as the run lives, so two
  runs never write into one directory at once (the lock dies with the process, even on kill -9).
- `check_resume(cfg, overrides)`: `resume=<dir>` must name a resumable run, and may not carry
  overrides that would change the saved config (the saved records stay the truth).
- `discard_if_unused(dir)`: a run that failed before writing a record leaves no directory.

Called from the CLI before Hydra creates anything, and again from the trainers.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mmc.errors import ConfigError, check

LOCK = ".mmc.lock"
# Files that make a directory "a run's records".
RECORDS = ("summary.json", "metrics.jsonl", "config.yaml", "checkpoints/last.pt")
# Overrides a resume may carry: they change where/how it runs, not what it computes.
RESUME_NEUTRAL = ("resume", "device", "devices", "progress", "run_dir", "hydra")
_STARTED = time.time()
_held: dict[str, int] = {}  # resolved dir -> fd of the lock file this process holds


def records_in(run_dir: Path) -> list[str]:
    return [name for name in RECORDS if (Path(run_dir) / name).exists()]


def check_fresh(run_dir: Path) -> None:
    found = records_in(run_dir)
    check(
        not found,
        f"{run_dir} already holds another run's records ({', '.join(found)}); choose a new "
        f"hydra.run.dir, or continue that run with: mmc train resume={run_dir}",
    )


def lock(run_dir: Path) -> None:
    """Hold an exclusive lock on `run_dir` until this process ends (re-entrant in-process)."""
    run_dir = Path(run_dir)
    key = str(run_dir.resolve())
    if key in _held:
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ConfigError(
            f"cannot write the run directory {run_dir} ({e.strerror}); choose a writable "
            "hydra.run.dir (or free disk space)"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise ConfigError(
            f"{run_dir} is in use by another mmc run (pid {other}); wait for it to end or "
            "choose another hydra.run.dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held[key] = fd


def release(run_dir: Path) -> None:
    fd = _held.pop(str(Path(run_dir).resolve()), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the flock


def claim(run_dir: Path, resume: bool) -> None:
    """What a trainer calls before writing: lock, then refuse another run's records."""
    lock(run_dir)
    if not resume:
        check_fresh(run_dir)


def discard_if_unused(run_dir: Path) -> None:
    """Remove a directory this process created that holds no record (only Hydra's .hydra/,
    its log and our lock): a run that failed while starting leaves nothing behind."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or records_in(run_dir):
        return
    entries = list(run_dir.iterdir())
    allowed = {".hydra", LOCK} | {p.name for p in entries if p.suffix == ".log"}
    if any(p.name not in allowed for p in entries):
        return
    if run_dir.stat().st_ctime < _STARTED - 1 and (run_dir / ".hydra").exists():
        hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
        if not hydra_yaml.exists() or hydra_yaml.stat().st_mtime < _STARTED - 1:
            return  # not made by this process
    release(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)


def _override_key(override: str) -> str | None:
    key = override.lstrip("+~").split("=", 1)[0].strip()
    if key.endswith("@_global_"):
        key = key.split("@", 1)[0]
    return key or None


def _plain(value: object) -> object:
    if OmegaConf.is_config(value):
        try:
            return OmegaConf.to_container(value, resolve=True)
        except Exception:
            return OmegaConf.to_container(value)
    return value


def check_resume(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The saved config of `resume=<dir>`; refuses a bad dir or overrides that change it."""
    run_dir = Path(str(cfg.resume))
    check(
        run_dir.is_dir(),
        f"resume={cfg.resume}: no such run directory; point resume at an existing run "
        "directory (outputs/runs/<date>/<time>)",
    )
    saved_path = run_dir / "config.yaml"
    check(
        saved_path.exists(),
        f"resume={cfg.resume}: no config.yaml there; point resume at a run directory",
    )
    try:
        saved = OmegaConf.load(saved_path)
    except Exception as e:
        raise ConfigError(
            f"{saved_path} is not a readable config ({' '.join(str(e).split())[:120]}); "
            "the run cannot be resumed, start a new one"
        ) from None
    changed = []
    for override in overrides:
        key = _override_key(override)
        if key is None or key.split(".", 1)[0] in RESUME_NEUTRAL:
            continue
        if _plain(OmegaConf.select(cfg, key)) != _plain(OmegaConf.select(saved, key)):
            changed.append(override)
    check(
        not changed,
        f"resume={cfg.resume} continues the saved config, but {', '.join(changed)} would change "
        "it; drop these overrides, or start a new run without resume=",
    )
    return saved


_current: list[Path] = []


def set_current(run_dir: Path) -> None:
    """The run directory this process is writing (named in the Ctrl-C resume hint)."""
    _current[:] = [Path(run_dir)]


def current() -> Path | None:
    return _current[0] if _current else None


def saved_choices(run_dir: Path) -> dict[str, str] | None:
    """The config-group choices recorded by Hydra when the run started (for a resume)."""
    path = Path(run_dir) / ".hydra" / "hydra.yaml"
    if not path.exists():
        return None
    try:
        choices = OmegaConf.load(path).hydra.runtime.choices
    except Exception:
        return None
    return {g: str(choices.get(g)) for g in ("dataset", "backbone", "remedy", "logger")}
