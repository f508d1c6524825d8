"""Checkpoint files: written atomically, read without ever executing code from them.

Every load uses `torch.load(weights_only=True)`: a checkpoint holds only tensors and plain
Python values (RNG states included, see mmc.utils.seed), so a file planted in a run directory
can at worst be refused, never run. A crash or a full disk mid-write never destroys the
previous checkpoint and leaves no `.tmp` file behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mmc.errors import DataError

# Paths inside a run directory, shared by the trainers and the sweep's skip/resume logic.
LAST, BEST = "checkpoints/last.pt", "checkpoints/best.pt"


def save_atomic(obj: object, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch reports a full disk as a RuntimeError
        tmp.unlink(missing_ok=True)
        raise write_error(path, e) from None


def write_error(path: Path, e: BaseException) -> DataError:
    reason = getattr(e, "strerror", None) or " ".join(str(e).split())[:160]
    return DataError(
        f"cannot write {path} ({reason}); free disk space or make the run directory writable, "
        f"then continue with: mmc train resume={path.parent.parent}"
        if path.parent.name == "checkpoints"
        else f"cannot write {path} ({reason}); free disk space or make the directory writable"
    )


def safe_load(path: Path, what: str, fix: str, device: torch.device | str = "cpu") -> object:
    """`torch.load(weights_only=True)` with any failure (corrupt, truncated, or holding
    objects other than tensors and plain values) turned into one DataError naming the file."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; {fix}") from None
    except Exception as e:  # UnpicklingError, EOFError, RuntimeError (zip), ...
        first = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            first = "it holds Python objects other than tensors and plain values; not loaded"
        raise DataError(f"{path} is not a valid {what} ({first.strip()[:160]}); {fix}") from None


def load_record(path: Path, what: str, device: torch.device | str = "cpu") -> dict:
    """A saved dict of tensors and plain values other than a model checkpoint (a distilled set),
    loaded as safely as a checkpoint."""
    record = safe_load(path, what, "delete it and start the run again without resume=", device)
    if not isinstance(record, dict):
        raise DataError(f"{path} is not a valid {what} (not a dict); delete it and start again")
    return record


def load(path: Path, device: torch.device | str = "cpu") -> dict:
    ckpt = safe_load(
        path,
        "mmc checkpoint",
        "delete it (or the run directory) and start the run again without resume=",
        device,
    )
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise DataError(
            f"{path} is not a valid mmc checkpoint (no model state in it); delete it and "
            "start the run again without resume="
        )
    return ckpt
