"""Cross-modal polysemanticity of the fusion head (collapse paper Table 9).

A small two-layer ReLU classifier learns, from the first-layer neurons of heads trained on
one modality alone, which modality a neuron serves; applied to the neurons of the fusion
head, the mean entropy of its predictions (nats) measures how much each fusion neuron mixes
modalities: low when every neuron clearly belongs to one modality, log(M) when none does.

Weights of different networks live in unaligned bases, so a neuron is described by summary
statistics of its weights per modality block of the fused input (mean |w|, max |w|, std),
in units of that layer's initialisation bound 1/sqrt(fan_in). A unimodal neuron becomes a
training example by placing its weights in its modality's block and fresh initialisation
noise in the others: exactly what a fusion neuron that uses only that modality looks like.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn


def first_linear(head: nn.Module) -> nn.Linear:
    for layer in head.modules():
        if isinstance(layer, nn.Linear):
            return layer
    raise ValueError("the head has no Linear layer")


def block_features(weight: Tensor, n_blocks: int) -> np.ndarray:
    """[H, n_blocks * d] weights (in init units) -> [H, n_blocks * 3] per-block statistics."""
    w = weight.detach().double().reshape(weight.shape[0], n_blocks, -1)
    a = w.abs()
    feats = torch.cat([a.mean(-1), a.amax(-1), w.std(-1)], dim=1)
    return feats.numpy()


def polysemanticity(
    fusion_head: nn.Module,
    unimodal_heads: dict[str, nn.Module],
    modalities: list[str],
    repeats: int = 8,
    seed: int = 0,
) -> dict[str, float]:
    gen = torch.Generator().manual_seed(seed)
    m_count = len(modalities)
    fused = first_linear(fusion_head).weight
    dim = fused.shape[1] // m_count
    xs, ys = [], []
    for label, m in enumerate(modalities):
        w = first_linear(unimodal_heads[m]).weight  # [H, dim]
        w = w.detach().double() * math.sqrt(w.shape[1])
        for _ in range(repeats):
            full = torch.rand(w.shape[0], m_count * dim, generator=gen, dtype=torch.float64) * 2 - 1
            full[:, label * dim : (label + 1) * dim] = w
            xs.append(block_features(full, m_count))
            ys.append(np.full(w.shape[0], label))
    from sklearn.neural_network import MLPClassifier  # heavy: only when asked for

    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=500, random_state=seed)
    clf.fit(np.concatenate(xs), np.concatenate(ys))
    probs = clf.predict_proba(
        block_features(fused.detach().double() * math.sqrt(fused.shape[1]), m_count)
    )
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(1)
    return {
        "cross_entropy": float(entropy.mean()),
        "max": float(math.log(m_count)),
        "train_accuracy": float(clf.score(np.concatenate(xs), np.concatenate(ys))),
    }
