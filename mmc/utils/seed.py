"""Seeding and RNG state capture (same seed + config on CPU -> identical metrics)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from mmc.errors import check


def checked_seed(option: str, value: object) -> int:
    """`value` as a seed, or a one-line ConfigError naming `option`: numpy's generators take
    only non-negative integers, and a float would be truncated without a word."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0
    check(ok, f"{option}={value!r}: a seed is a non-negative integer; use e.g. {option}=0")
    return int(value)


def seed_everything(seed: int, device: torch.device | None = None) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if device is not None and device.type == "cuda":
        # CPU kernels are deterministic already; this switch also costs seconds of imports
        # (torch._dynamo), so it is only paid where it matters.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def rng_state() -> dict:
    """Every generator's state as tensors and plain Python values, so a checkpoint that holds
    it loads with `torch.load(weights_only=True)` (numpy's own state holds an ndarray)."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": [version, list(internal), gauss],
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """Shuffling order depends only on (seed, epoch), so a resumed run sees the same batches."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)
