"""Random per-modality embeddings and masks for backbone-level tests."""

from __future__ import annotations

import torch

from mmc.data.batch import Batch


def make_inputs(n: int = 12, mods: int = 3, dim: int = 8, seed: int = 0, rate: float = 0.0):
    g = torch.Generator().manual_seed(seed)
    names = [f"m{i}" for i in range(mods)]
    mask = {m: torch.rand(n, generator=g) >= rate for m in names}
    emb = {m: torch.where(mask[m][:, None], torch.randn(n, dim, generator=g), 0.0) for m in names}
    return names, emb, mask


def make_batch(emb, mask, num_classes: int = 3, labelled=None, seed: int = 0) -> Batch:
    n = next(iter(emb.values())).shape[0]
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, num_classes, (n,), generator=g)
    lab = torch.ones(n, dtype=torch.bool) if labelled is None else labelled
    return Batch(x=dict(emb), mask=dict(mask), y=y, labelled=lab)


def with_garbage(emb, mask, row: int, modality: str, value: float = 1e3):
    """A copy of emb where a *masked* cell holds a large non-zero value."""
    assert not bool(mask[modality][row])
    out = {m: e.clone() for m, e in emb.items()}
    out[modality][row] = value
    return out
