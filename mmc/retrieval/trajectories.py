"""Expert trajectories: dual encoders trained on the real pairs, a snapshot per epoch.

Cached on disk under a key of (training data, model, expert settings), one file per expert,
so later distillation runs (other seeds, RB/SM on or off, other pair counts) reuse them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from mmc.logging.progress import Progress
from mmc.retrieval.model import DualEncoder, contrastive_loss
from mmc.retrieval.pairs import PairSplit

log = logging.getLogger("mmc")
Snapshot = dict[str, Tensor]


def fingerprint(*tensors: Tensor) -> str:
    h = hashlib.sha1()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def snapshot(model: DualEncoder) -> Snapshot:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def train_expert(
    model: DualEncoder,
    data: PairSplit,
    epochs: int,
    lr: float,
    batch_size: int,
    keep: int,
    generator: torch.Generator,
    final: bool = False,
    desc: str = "expert",
) -> list[Snapshot]:
    """Plain SGD (no momentum) on the symmetric contrastive loss; snapshots of epochs 0..keep
    (and, with `final`, the last epoch's as the last element)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr)
    snaps = [snapshot(model)]
    device = data.txt.device
    progress = Progress(epochs, desc, unit="epoch", every=1)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(data), generator=generator).to(device)
        for start in range(0, len(order), batch_size):
            j = order[start : start + batch_size]
            loss = contrastive_loss(model(data.img[data.txt2img[j]], data.txt[j]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if len(snaps) <= keep:
            snaps.append(snapshot(model))
        progress.step()
    progress.close()
    if final:
        snaps.append(snapshot(model))
    return snaps


class ExpertBank:
    """Expert trajectories on disk; `get(i)` memory-maps expert i's snapshots."""

    def __init__(self, directory: Path, paths: list[Path]) -> None:
        self.directory, self.paths = directory, paths

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> list[Snapshot]:
        return torch.load(self.paths[i], map_location="cpu", mmap=True, weights_only=True)


def expert_bank(
    make_model: Callable[[], DualEncoder],
    data: PairSplit,
    settings: dict,
    cache_dir: str | Path,
    device: torch.device,
    seed: int = 0,
    model_key: dict | None = None,
) -> ExpertBank:
    """Train the missing experts of this (data, model, settings) key; return them all.

    settings: num_experts, epochs, lr, batch_size, keep (snapshots after epoch 0 to keep).
    """
    key_src = {
        "data": fingerprint(data.img, data.txt, data.txt2img),
        "model": model_key or {},
        "settings": settings,
        "seed": seed,
    }
    key = hashlib.sha1(json.dumps(key_src, sort_keys=True, default=str).encode()).hexdigest()[:16]
    directory = Path(cache_dir) / key
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "key.json").write_text(json.dumps(key_src, indent=2, sort_keys=True, default=str))
    paths = []
    for i in range(settings["num_experts"]):
        path = directory / f"expert_{i:03d}.pt"
        if not path.exists():
            gen = torch.Generator().manual_seed(seed * 7919 + i)
            torch.manual_seed(seed * 7919 + i)
            model = make_model().to(device)
            snaps = train_expert(
                model, data, settings["epochs"], settings["lr"], settings["batch_size"],
                settings["keep"], gen, desc=f"expert {i + 1}/{settings['num_experts']}",
            )  # fmt: skip
            tmp = path.parent / f"{path.name}.{os.getpid()}.tmp"  # concurrent runs
            torch.save(snaps, tmp)
            tmp.replace(path)
            log.info("expert %d/%d trained -> %s", i + 1, settings["num_experts"], path)
        paths.append(path)
    return ExpertBank(directory, paths)
