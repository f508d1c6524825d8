import math

import torch
from torch import nn

from mmc.diagnostics.polysemanticity import polysemanticity


def _head(in_dim: int, hidden: int = 32) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def test_monosemantic_fusion_neurons_score_lower_than_mixed_ones():
    torch.manual_seed(0)
    dim, mods = 8, ["a", "b"]
    unimodal = {}
    for m in mods:  # "trained" unimodal neurons: weights well above their init scale
        h = _head(dim)
        with torch.no_grad():
            h[0].weight.mul_(6.0)
        unimodal[m] = h
    mono, mixed = _head(2 * dim), _head(2 * dim)
    with torch.no_grad():
        for i in range(32):  # each neuron grows the weights of one block only
            block = slice(0, dim) if i % 2 else slice(dim, 2 * dim)
            mono[0].weight[i, block] *= 6.0
        mixed[0].weight.mul_(6.0)  # every neuron grows both blocks
    low = polysemanticity(mono, unimodal, mods)
    high = polysemanticity(mixed, unimodal, mods)
    assert low["train_accuracy"] > 0.95
    assert low["cross_entropy"] < 0.3 < high["cross_entropy"] <= math.log(2) + 1e-9
