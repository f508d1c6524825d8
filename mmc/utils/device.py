"""Device from config: a request for hardware that is not there is an error, never a fallback."""

from __future__ import annotations

import os
import re

import torch

from mmc.errors import ConfigError

PRECISIONS = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


def select_device(spec: str) -> torch.device:
    spec = str(spec).strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise ConfigError(f"device={spec!r} is not valid; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"device={spec} but {this_machine()} has no CUDA GPU visible to torch; "
            "use device=cpu or device=auto"
            + (", or ask SLURM for a GPU (hydra/launcher=slurm_gpu)" if _slurm_job() else "")
        )
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(
            f"device={spec} but only {count} CUDA device(s) exist (cuda:0..cuda:{count - 1}); "
            "pick one of those or device=auto"
        )
    return torch.device("cuda", index)


def _slurm_job() -> str | None:
    return os.environ.get("SLURM_JOB_ID")


def this_machine() -> str:
    """'this machine', or the SLURM node and job when running inside one (device errors)."""
    if _slurm_job():
        node = os.environ.get("SLURMD_NODENAME", "?")
        return f"SLURM node {node} (job {_slurm_job()}, CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})"
    return "this machine"


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for mixed precision, or None for full fp32 (always on CPU)."""
    if precision not in PRECISIONS:
        raise ConfigError(
            f"train.precision={precision!r} is not valid; use one of: {', '.join(PRECISIONS)}"
        )
    if device.type != "cuda":
        return None
    return PRECISIONS[precision]
