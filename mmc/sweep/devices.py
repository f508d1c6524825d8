"""Spread the jobs of a multirun over GPUs (`devices=[0,1,2,3]`)."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import OmegaConf

from mmc.errors import ConfigError


def device_for_job(devices: Sequence[int], job_num: int) -> str:
    """Job k of a sweep runs on cuda:devices[k % len(devices)].

    Launchers start jobs in job-number order, so with n_jobs = len(devices) (the joblib
    preset's default) the jobs running at the same time sit on different GPUs.
    """
    import torch

    ids = [int(d) for d in devices]
    if not torch.cuda.is_available():
        raise ConfigError(
            f"devices={ids} but this machine has no CUDA GPU visible to torch; "
            "drop devices (jobs then run on device=auto) or run on a GPU machine"
        )
    count = torch.cuda.device_count()
    bad = [d for d in ids if d < 0 or d >= count]
    if bad:
        raise ConfigError(
            f"devices={ids} names GPU(s) {bad} but only cuda:0..cuda:{count - 1} exist; "
            "list existing GPU ids"
        )
    return f"cuda:{ids[job_num % len(ids)]}"


def n_jobs(devices, default: int = 2) -> int:
    """Parallel local jobs: one per listed GPU, else `default` (CPU jobs share the cores)."""
    return len(devices) if devices else default


def register_resolvers() -> None:
    # Used by conf/hydra/launcher/joblib.yaml: n_jobs follows the devices list.
    if not OmegaConf.has_resolver("mmc.n_jobs"):
        OmegaConf.register_new_resolver("mmc.n_jobs", n_jobs)
