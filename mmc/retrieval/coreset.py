"""Pick `n` real training pairs: random, herding (match the mean) or k-center (cover space)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mmc.errors import choices_error

METHODS = ("random", "herding", "kcenter")


def pair_features(img: Tensor, txt: Tensor) -> Tensor:
    """Each modality normalised so that neither dominates the joint distance."""
    return torch.cat(
        [F.normalize(img.flatten(1).float(), dim=-1), F.normalize(txt.float(), dim=-1)], 1
    )


def herding(x: Tensor, n: int) -> Tensor:
    """Greedy herding (Welling 2009): each pick keeps the running mean closest to the full mean."""
    mu = x.mean(0)
    chosen: list[int] = []
    total = torch.zeros_like(mu)
    available = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for k in range(1, n + 1):
        dist = ((total.unsqueeze(0) + x) / k - mu).norm(dim=1).masked_fill(~available, torch.inf)
        i = int(dist.argmin())
        chosen.append(i)
        total += x[i]
        available[i] = False
    return torch.tensor(chosen, dtype=torch.long)


def kcenter(x: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """Greedy k-center: start from a random point, then repeatedly add the farthest one."""
    first = int(torch.randint(len(x), (1,), generator=generator))
    chosen = [first]
    mind = (x - x[first]).norm(dim=1)
    for _ in range(n - 1):
        i = int(mind.argmax())
        chosen.append(i)
        mind = torch.minimum(mind, (x - x[i]).norm(dim=1))
    return torch.tensor(chosen, dtype=torch.long)


def select(method: str, img: Tensor, txt: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """Indices of `n` pairs among the candidate pairs (img[i], txt[i])."""
    if method not in METHODS:
        raise choices_error("data.coreset", method, ["null", *METHODS])
    n = min(n, len(txt))
    if method == "random":
        return torch.randperm(len(txt), generator=generator)[:n]
    x = pair_features(img, txt)
    return herding(x, n) if method == "herding" else kcenter(x, n, generator)
