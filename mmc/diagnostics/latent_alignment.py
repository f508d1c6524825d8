"""Are two modalities' latents aligned sample by sample, or only in distribution?

EBR's modality loss makes the latents of different modalities indistinguishable to a
discriminator: that is distribution matching. Theorem 3's epsilon-neighbourhood is per
datapoint, and EBR substitution (h_i^-1(g_j) standing in for modality i) needs it. The
diagnostic: the mean cosine of g_i(x) and g_j(x) of the *same* sample against that of a
*random pair* (g_i(x), g_j(x')). Equal values mean no per-sample alignment at all; a
same-sample cosine near 1 above a random-pair cosine near 0 means aligned latents.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor


def pair_cosines(a: Tensor, b: Tensor, generator: torch.Generator | None = None) -> dict:
    """Mean cosine of rows a[k], b[k] (same sample) and a[k], b[p(k)] (a random derangement)."""
    n = len(a)
    if n < 2:
        return {"same": math.nan, "random": math.nan}
    a, b = a.detach().float(), b.detach().float()
    # A random cyclic shift of a random order: no row is paired with itself.
    order = torch.randperm(n, generator=generator)
    shift = 1 + int(torch.randint(n - 1, (1,), generator=generator))
    partner = torch.empty_like(order)
    partner[order] = order.roll(shift)
    same = F.cosine_similarity(a, b, dim=1).mean()
    rand = F.cosine_similarity(a, b[partner.to(b.device)], dim=1).mean()
    return {"same": float(same), "random": float(rand)}


def latent_alignment(
    latents: dict[str, Tensor], mask: dict[str, Tensor], seed: int = 0
) -> dict[str, float]:
    """pair_cosines averaged over modality pairs, on the samples that observe both."""
    gen = torch.Generator().manual_seed(seed)
    same, rand = [], []
    for i, j in itertools.combinations(list(latents), 2):
        both = (mask[i] & mask[j]).cpu()
        if int(both.sum()) < 2:
            continue
        c = pair_cosines(latents[i].cpu()[both], latents[j].cpu()[both], gen)
        same.append(c["same"])
        rand.append(c["random"])
    if not same:
        return {"cos_same": math.nan, "cos_random": math.nan}
    return {"cos_same": sum(same) / len(same), "cos_random": sum(rand) / len(rand)}
