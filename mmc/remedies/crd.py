"""Distillation objectives for KD: contrastive representation distillation (CRD) and InfoNCE.

CRD (Tian et al., ICLR 2020): student and teacher features each pass through a linear embed
and L2 normalisation; each sample's positive is the other network's embedding of the same
sample, negatives are drawn from memory banks holding one momentum-averaged embedding per
training sample, and the loss is the NCE estimate of the contrastive objective in both
directions (teacher anchored on student memory, student anchored on teacher memory).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Embed(nn.Module):
    """Linear projection + L2 normalisation (the CRD embedding head)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.proj(x.float()), dim=-1)


class MemoryBankNCE(nn.Module):
    """Two memory banks (student / teacher embeddings per training sample) and the NCE loss."""

    def __init__(
        self,
        n_data: int,
        feat_dim: int,
        negatives: int = 16384,
        temperature: float = 0.07,
        momentum: float = 0.5,
    ) -> None:
        super().__init__()
        self.n_data = n_data
        # Drawing more negatives than there are other samples adds only duplicates.
        self.negatives = max(1, min(negatives, n_data - 1))
        self.temperature = temperature
        self.momentum = momentum
        std = 1.0 / math.sqrt(feat_dim / 3)
        self.register_buffer(
            "mem_s", F.normalize(torch.rand(n_data, feat_dim) * 2 * std - std, dim=-1)
        )
        self.register_buffer(
            "mem_t", F.normalize(torch.rand(n_data, feat_dim) * 2 * std - std, dim=-1)
        )
        # Normalising constants of the unnormalised softmax, estimated once on the first batch.
        self.register_buffer("z_s", torch.tensor(-1.0))
        self.register_buffer("z_t", torch.tensor(-1.0))

    def _nce(self, scores: Tensor) -> Tensor:
        """scores [B, 1+K] of positive then negatives, already divided by their Z."""
        pn = 1.0 / self.n_data
        k = scores.shape[1] - 1
        eps = 1e-7
        p_pos = scores[:, 0] / (scores[:, 0] + k * pn + eps)
        p_neg = (k * pn) / (scores[:, 1:] + k * pn + eps)
        return -(p_pos.log() + p_neg.log().sum(1)).mean()

    def forward(
        self, s: Tensor, t: Tensor, idx: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        b = s.shape[0]
        neg = torch.randint(0, self.n_data, (b, self.negatives), generator=generator).to(idx.device)
        cand = torch.cat([idx.unsqueeze(1), neg], dim=1)  # position 0 is the positive
        w_s = self.mem_s[cand].detach()  # [B, 1+K, D]
        w_t = self.mem_t[cand].detach()
        out_t = torch.exp(torch.bmm(w_s, t.unsqueeze(2)).squeeze(2) / self.temperature)
        out_s = torch.exp(torch.bmm(w_t, s.unsqueeze(2)).squeeze(2) / self.temperature)
        if self.z_s < 0:
            self.z_s.fill_(float(out_s.mean().detach()) * self.n_data)
            self.z_t.fill_(float(out_t.mean().detach()) * self.n_data)
        loss = self._nce(out_s / self.z_s) + self._nce(out_t / self.z_t)
        with torch.no_grad():
            for mem, new in ((self.mem_s, s), (self.mem_t, t)):
                mem[idx] = F.normalize(
                    mem[idx] * self.momentum + new.detach() * (1 - self.momentum), dim=-1
                )
        return loss


def info_nce(s: Tensor, t: Tensor, temperature: float = 0.07) -> Tensor:
    """Symmetric in-batch InfoNCE: the same sample in the other network is the positive."""
    logits = s @ t.T / temperature
    target = torch.arange(len(s), device=s.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
