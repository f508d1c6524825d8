"""Controlled corruption of a data set: simulated missingness and additive uniform noise."""

from __future__ import annotations

import torch
from torch import Tensor

from mmc.data.batch import MultimodalTensors


def drop_modalities(
    split: MultimodalTensors,
    rate: float,
    modalities: list[str],
    generator: torch.Generator,
) -> MultimodalTensors:
    """Mask each listed modality independently with probability `rate` per sample.

    A sample never loses its last observed modality to simulation: where every modality
    would be gone, one of its originally observed ones is restored at random. Samples that
    arrive with nothing observed (natural missingness) are left as they are.
    """
    if rate <= 0 or not modalities:
        return split
    n = len(split)
    new_mask = dict(split.mask)
    for m in modalities:
        drop = torch.rand(n, generator=generator) < rate
        new_mask[m] = split.mask[m] & ~drop.to(split.mask[m].device)
    stacked_old = torch.stack([split.mask[m] for m in split.modalities], dim=1)
    stacked_new = torch.stack([new_mask[m] for m in split.modalities], dim=1)
    emptied = ~stacked_new.any(dim=1) & stacked_old.any(dim=1)
    if emptied.any():
        # Pick uniformly among the originally observed modalities of each emptied row.
        scores = torch.rand(stacked_old.shape, generator=generator).to(stacked_old.device)
        scores = scores.masked_fill(~stacked_old, -1.0)
        keep = scores.argmax(dim=1)
        rows = emptied.nonzero(as_tuple=True)[0]
        stacked_new[rows, keep[rows]] = True
        new_mask = {m: stacked_new[:, j] for j, m in enumerate(split.modalities)}
    return MultimodalTensors(split.x, new_mask, split.y, split.labelled)


def feature_range(x: Tensor, mask: Tensor) -> Tensor:
    """Per-feature max - min over observed rows (the noise scale; from training data only)."""
    observed = x[mask].float()
    if observed.numel() == 0:
        return torch.zeros(x.shape[1:])
    return observed.amax(dim=0) - observed.amin(dim=0)


def add_uniform_noise(
    split: MultimodalTensors,
    modality: str,
    rate: float,
    scale: Tensor,
    generator: torch.Generator,
) -> MultimodalTensors:
    """x + U(-rate*scale/2, rate*scale/2) on one modality (the collapse paper's Fig. 7)."""
    if rate <= 0:
        return split
    x = split.x[modality]
    u = torch.rand(x.shape, generator=generator).to(x.device) - 0.5
    noisy = x + rate * scale.to(x.device) * u
    xs = dict(split.x)
    xs[modality] = noisy.to(x.dtype)
    return MultimodalTensors(xs, split.mask, split.y, split.labelled)
