"""Reference: M3Care as it was before the vectorised rewrite (commit f80b02c), kept verbatim
so tests/backbones/test_optimised_backbones.py can check the new code gives the same outputs.

M3Care (Zhang et al., KDD 2022): impute missing modalities in latent space from similar
patients, then fuse with a masked transformer.

Per batch:
1. Per modality m, a patient-patient similarity over pairs where both observe m: a learned
   mix sigmoid(eps_m) K(h) + (1 - sigmoid(eps_m)) K(phi_m(h)) of Gaussian kernels on the raw
   embedding h and a learned projection phi_m(h); K sums three bandwidths around the mean
   pairwise squared distance (x1/2, x1, x2). Features are standardised over the observed rows
   first (the public code uses a BatchNorm over all rows, which lets missing rows' zeros
   shift the statistics and fails on a batch of one).
2. Average over the modalities both patients observe; pairs sharing no modality get 0.
3. A learned threshold t = sigmoid(theta) sparsifies it: s -> s if s > t else 0 (the
   gradient reaches theta through relu(s - t), as in the public code).
4. Per modality, two GCN layers over that graph aggregate the embeddings of neighbours that
   *observe* m (rows normalised to weights summing to 1, so the scale does not grow with the
   batch size). A patient missing m receives the aggregate (default, the paper's intent); with
   `receive_if_missing: false` the adjacency is masked on both sides as in the public code and
   a missing patient receives nothing.
5. Observed modality: a learned gate mixes own and aggregated embedding; missing modality:
   the aggregate. A missing modality with no observed neighbour stays a masked token.
6. A two-layer transformer (4 then 1 heads, as published) over the M modality tokens with a
   key mask of the valid tokens; z = the concatenated output tokens (invalid ones zeroed).
Extra loss `m3care_stability`: the norm-stability term | ||phi_m(h)|| - ||h|| | averaged over
observed rows and summed over modalities, with a tiny weight.
A patient with no observed modality shares no modality with anyone, gets no neighbour and no
valid token: its z is zero (documented fallback, the head's prior).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmc.backbones.base import FusionBackbone, FusionOutput
from mmc.data.batch import Batch
from mmc.errors import check

KERNEL_MULTIPLIERS = (0.5, 1.0, 2.0)  # bandwidths around the mean pairwise distance


def masked_standardize(x: Tensor, rows: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-feature standardisation with statistics of the `rows` only."""
    w = rows.to(x.dtype).unsqueeze(-1)
    n = w.sum().clamp_min(1)
    mean = (x * w).sum(0) / n
    var = (((x - mean) ** 2) * w).sum(0) / n
    return (x - mean) / (var + eps).sqrt()


def gaussian_kernel(x: Tensor, pairs: Tensor) -> Tensor:
    """Sum of Gaussian kernels at three bandwidths around the mean squared distance over
    `pairs` (the bandwidth is a statistic, not a path for gradients)."""
    d2 = torch.cdist(x, x).pow(2)
    off_diag = pairs & ~torch.eye(len(x), dtype=torch.bool, device=x.device)
    n = off_diag.sum().clamp_min(1)
    bandwidth = (torch.where(off_diag, d2, torch.zeros_like(d2)).sum() / n).detach().clamp_min(1e-6)
    return sum(torch.exp(-d2 / (bandwidth * k)) for k in KERNEL_MULTIPLIERS)


class M3Care(FusionBackbone):
    def __init__(
        self,
        modalities: list[str],
        dim: int,
        num_outputs: int,
        hidden: int | None = 256,
        receive_if_missing: bool = True,
        heads: list[int] = (4, 1),
        ff_mult: int = 4,
        dropout: float = 0.0,
        stability_weight: float = 1e-4,
        threshold_init: float = 2.0,
        mix_init: float = 2.0,
    ) -> None:
        super().__init__(modalities, dim, num_outputs)
        hidden = hidden or dim
        for h in heads:
            check(
                h >= 1 and hidden % h == 0,
                f"backbone.heads={list(heads)}: each must divide hidden={hidden}",
            )
        n = len(modalities)
        self.hidden = hidden
        # The published model works at its own width; a per-modality linear map plays the
        # role of the last layer of M3Care's own extractors when model.dim differs.
        self.inputs = nn.ModuleDict(
            {m: (nn.Linear(dim, hidden) if hidden != dim else nn.Identity()) for m in modalities}
        )
        self.sim_proj = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.Linear(hidden, hidden),
                    nn.ReLU(),
                    nn.Linear(hidden, hidden),
                    nn.ReLU(),
                    nn.Linear(hidden, hidden),
                )  # fmt: skip
                for m in modalities
            }
        )
        self.mix = nn.Parameter(torch.full((n,), float(mix_init)))
        self.threshold = nn.Parameter(torch.tensor(float(threshold_init)))
        self.gcn1 = nn.ModuleDict({m: nn.Linear(hidden, hidden) for m in modalities})
        self.gcn2 = nn.ModuleDict({m: nn.Linear(hidden, hidden) for m in modalities})
        self.gate_self = nn.ModuleDict({m: nn.Linear(hidden, 1) for m in modalities})
        self.gate_other = nn.ModuleDict({m: nn.Linear(hidden, 1) for m in modalities})
        self.token_type = nn.Embedding(n, hidden)
        nn.init.normal_(self.token_type.weight, std=0.02)
        self.transformer = nn.ModuleList(
            nn.TransformerEncoderLayer(
                hidden,
                h,
                dim_feedforward=ff_mult * hidden,
                dropout=dropout,
                batch_first=True,
                norm_first=True,
            )
            for h in heads
        )
        # Pre-norm layers leave the residual stream unnormalised; a final LayerNorm (as in the
        # Annotated-Transformer encoder M3Care's code derives from) keeps z at a fixed scale.
        self.final_norm = nn.LayerNorm(hidden)
        self.receive_if_missing = receive_if_missing
        self.stability_weight = stability_weight
        self.out_dim = n * hidden

    # ------------------------------------------------------------------ the patient graph
    def similarity(self, h: dict[str, Tensor], observed: Tensor) -> Tensor:
        """Thresholded cross-modal similarity [B, B] (0 = no edge)."""
        ref = next(iter(h.values()))
        total = ref.new_zeros(observed.shape[0], observed.shape[0])
        count = torch.zeros_like(total)
        for i, m in enumerate(self.modalities):
            rows = observed[:, i]
            pairs = rows.unsqueeze(0) & rows.unsqueeze(1)
            mix = torch.sigmoid(self.mix[i])
            raw = gaussian_kernel(masked_standardize(h[m], rows), pairs)
            proj = gaussian_kernel(masked_standardize(F.relu(self.sim_proj[m](h[m])), rows), pairs)
            sim = mix * raw + (1 - mix) * proj
            total = total + torch.where(pairs, sim, torch.zeros_like(sim))
            count = count + pairs.to(total.dtype)
        avg = total / count.clamp_min(1)
        t = torch.sigmoid(self.threshold)
        above = F.relu(avg - t)
        return above + (above > 0).to(avg.dtype) * t.detach()

    def adjacency(self, sim: Tensor, observed_m: Tensor) -> Tensor:
        """Row-normalised adjacency for modality m: neighbours must observe m."""
        adj = sim * observed_m.unsqueeze(0).to(sim.dtype)
        if not self.receive_if_missing:
            adj = adj * observed_m.unsqueeze(1).to(sim.dtype)
        return adj / adj.sum(1, keepdim=True).clamp_min(1e-12)

    def impute(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """(tokens [B, M, H], valid [B, M], projected inputs) after graph imputation."""
        observed = torch.stack([mask[m] for m in self.modalities], dim=1)
        h = {
            m: torch.where(mask[m].unsqueeze(-1), self.inputs[m](emb[m]), 0.0)
            for m in self.modalities
        }
        sim = self.similarity(h, observed)
        tokens, valid = [], []
        for i, m in enumerate(self.modalities):
            obs = observed[:, i]
            adj = self.adjacency(sim, obs)
            has_neighbour = adj.sum(1) > 0
            # Columns of rows not observing m are zero, so only they pass information on.
            g = F.relu(adj @ self.gcn1[m](h[m]))
            g = F.relu(adj @ self.gcn2[m](g))
            w_self = torch.sigmoid(self.gate_self[m](h[m]))
            w_other = torch.sigmoid(self.gate_other[m](g))
            w_self = w_self / (w_self + w_other)
            gated = w_self * h[m] + (1 - w_self) * g
            token = torch.where(
                obs.unsqueeze(-1), gated, torch.where(has_neighbour.unsqueeze(-1), g, 0.0)
            )
            tokens.append(token)
            valid.append(obs | has_neighbour)
        return torch.stack(tokens, dim=1), torch.stack(valid, dim=1), h

    # ------------------------------------------------------------------ forward
    def forward(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None = None
    ) -> FusionOutput:
        tokens, valid, h = self.impute(emb, mask)
        x = tokens + self.token_type.weight.unsqueeze(0)
        # A row with no valid token would make attention softmax over nothing (NaN): let it
        # attend everywhere and zero its output below.
        empty = ~valid.any(1)
        pad = ~valid & ~empty.unsqueeze(1)
        for layer in self.transformer:
            x = layer(x, src_key_padding_mask=pad)
        x = self.final_norm(x)
        z = torch.where(valid.unsqueeze(-1), x, 0.0).flatten(1)
        losses: dict[str, Tensor] = {}
        if self.training and batch is not None and self.stability_weight:
            losses["m3care_stability"] = self.stability_weight * self.stability_loss(h, mask)
        return FusionOutput(z=z, losses=losses)

    def stability_loss(self, h: dict[str, Tensor], mask: dict[str, Tensor]) -> Tensor:
        total = next(iter(h.values())).new_zeros(())
        for m in self.modalities:
            rows = mask[m]
            if bool(rows.any()):
                gap = (self.sim_proj[m](h[m][rows]).norm(dim=-1) - h[m][rows].norm(dim=-1)).abs()
                total = total + gap.mean()
        return total
