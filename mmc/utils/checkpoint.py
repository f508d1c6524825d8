"""Atomic checkpoint files: a crash mid-write never destroys the previous checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import torch

# Paths inside a run directory, shared by the trainers and the sweep's skip/resume logic.
LAST, BEST = "checkpoints/last.pt", "checkpoints/best.pt"


def save_atomic(obj: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load(path: Path, device: torch.device | str = "cpu") -> dict:
    # weights_only=False: checkpoints also hold RNG states and plain Python metadata.
    return torch.load(path, map_location=device, weights_only=False)
