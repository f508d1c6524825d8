"""M3Care (Zhang et al., KDD 2022): impute missing modalities in latent space from similar
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
    """Per-feature standardisation with statistics of the `rows` only; x [..., B, D],
    rows [..., B] (a leading modality axis is standardised per modality)."""
    w = rows.to(x.dtype).unsqueeze(-1)
    n = w.sum(-2, keepdim=True).clamp_min(1)
    mean = (x * w).sum(-2, keepdim=True) / n
    var = (((x - mean) ** 2) * w).sum(-2, keepdim=True) / n
    return (x - mean) / (var + eps).sqrt()


def gaussian_kernel(x: Tensor, pairs: Tensor) -> Tensor:
    """Sum of Gaussian kernels at three bandwidths around the mean squared distance over
    `pairs` (the bandwidth is a statistic, not a path for gradients). x [..., B, D],
    pairs [..., B, B]; all bandwidths in one broadcast exp."""
    sq = (x * x).sum(-1)
    # |a|^2 + |b|^2 - 2 a.b as one batched matmul (cdist's own large-batch method, without
    # its square root, which the kernel would square again and whose backward is slow).
    d2 = torch.baddbmm(
        sq.unsqueeze(-1) + sq.unsqueeze(-2), x.reshape(-1, *x.shape[-2:]),
        x.reshape(-1, *x.shape[-2:]).transpose(1, 2), alpha=-2.0,
    ).reshape(pairs.shape).clamp_min(0)  # fmt: skip
    off_diag = pairs & ~torch.eye(x.shape[-2], dtype=torch.bool, device=x.device)
    n = off_diag.sum((-2, -1)).clamp_min(1)
    bandwidth = (torch.where(off_diag, d2, 0.0).sum((-2, -1)) / n).detach().clamp_min(1e-6)
    scale = torch.tensor(KERNEL_MULTIPLIERS, dtype=x.dtype, device=x.device)
    scale = (bandwidth.unsqueeze(-1) * scale).reshape(*bandwidth.shape, -1, 1, 1)
    return torch.exp(-d2.unsqueeze(-3) / scale).sum(-3)


def _stacked(layers: list[nn.Module]) -> tuple[Tensor, Tensor] | None:
    """Per-modality Linear layers as one [M, out, in] weight and [M, out] bias."""
    if isinstance(layers[0], nn.Identity):
        return None
    return torch.stack([m.weight for m in layers]), torch.stack([m.bias for m in layers])


def _apply(wb: tuple[Tensor, Tensor] | None, x: Tensor) -> Tensor:
    """x [M, B, in] through each modality's own Linear at once."""
    if wb is None:
        return x
    w, b = wb
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


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
    # Every per-modality step runs for all modalities at once: the modality's own weights are
    # stacked ([M, out, in]) and applied with one batched matmul, so the Python cost does not
    # grow with M. Parameters stay per-modality modules (checkpoints are unchanged).
    def _per_modality(self, x: Tensor, layers: nn.ModuleDict) -> Tensor:
        """x [M, B, in] through each modality's own layer of `layers` at once."""
        return _apply(_stacked([layers[m] for m in self.modalities]), x)

    def _projection(self, h: Tensor) -> Tensor:
        """phi_m(h) for every modality: [M, B, H] (the sim_proj MLPs, stacked)."""
        seq = [self.sim_proj[m] for m in self.modalities]
        x = h
        for i, layer in enumerate(seq[0]):
            if isinstance(layer, nn.Linear):
                x = _apply(_stacked([s[i] for s in seq]), x)
            else:
                x = layer(x)
        return x

    def similarity(
        self, h: Tensor | dict[str, Tensor], observed: Tensor, proj: Tensor | None = None
    ) -> Tensor:
        """Thresholded cross-modal similarity [B, B] (0 = no edge). h: [M, B, H] (or a dict
        of [B, H] per modality); observed [B, M]; proj = phi(h) if already computed."""
        if isinstance(h, dict):
            h = torch.stack([h[m] for m in self.modalities])
        proj = self._projection(h) if proj is None else proj
        rows = observed.T  # [M, B]
        pairs = rows.unsqueeze(1) & rows.unsqueeze(2)  # [M, B, B]
        mix = torch.sigmoid(self.mix).view(-1, 1, 1)
        raw = gaussian_kernel(masked_standardize(h, rows), pairs)
        projected = gaussian_kernel(masked_standardize(F.relu(proj), rows), pairs)
        sim = mix * raw + (1 - mix) * projected
        total = torch.where(pairs, sim, 0.0).sum(0)
        count = pairs.sum(0).to(total.dtype)
        avg = total / count.clamp_min(1)
        t = torch.sigmoid(self.threshold)
        above = F.relu(avg - t)
        return above + (above > 0).to(avg.dtype) * t.detach()

    def adjacency(self, sim: Tensor, observed: Tensor) -> Tensor:
        """Row-normalised adjacency per modality [M, B, B]: neighbours must observe m.
        observed: [B, M] (or [B] for one modality, giving [B, B])."""
        obs = observed.T.to(sim.dtype) if observed.dim() == 2 else observed.to(sim.dtype)
        adj = sim * obs.unsqueeze(-2)
        if not self.receive_if_missing:
            adj = adj * obs.unsqueeze(-1)
        return adj / adj.sum(-1, keepdim=True).clamp_min(1e-12)

    def impute(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(tokens [B, M, H], valid [B, M], projected inputs h [M, B, H], phi(h) [M, B, H])
        after graph imputation."""
        observed = torch.stack([mask[m] for m in self.modalities], dim=1)  # [B, M]
        obs = observed.T.unsqueeze(-1)  # [M, B, 1]
        x = torch.stack([emb[m] for m in self.modalities])
        h = torch.where(obs, self._per_modality(x, self.inputs), 0.0)
        proj = self._projection(h)
        sim = self.similarity(h, observed, proj)
        adj = self.adjacency(sim, observed)  # [M, B, B]
        has_neighbour = (adj.sum(-1) > 0).unsqueeze(-1)  # [M, B, 1]
        # Columns of rows not observing m are zero, so only they pass information on.
        g = F.relu(torch.bmm(adj, self._per_modality(h, self.gcn1)))
        g = F.relu(torch.bmm(adj, self._per_modality(g, self.gcn2)))
        w_self = torch.sigmoid(self._per_modality(h, self.gate_self))
        w_other = torch.sigmoid(self._per_modality(g, self.gate_other))
        w_self = w_self / (w_self + w_other)
        gated = w_self * h + (1 - w_self) * g
        tokens = torch.where(obs, gated, torch.where(has_neighbour, g, 0.0))
        valid = (obs | has_neighbour).squeeze(-1).T
        return tokens.transpose(0, 1), valid, h, proj

    # ------------------------------------------------------------------ forward
    def forward(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None = None
    ) -> FusionOutput:
        tokens, valid, h, proj = self.impute(emb, mask)
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
            observed = torch.stack([mask[m] for m in self.modalities])  # [M, B]
            losses["m3care_stability"] = self.stability_weight * self.stability_loss(
                h, proj, observed
            )
        return FusionOutput(z=z, losses=losses)

    @staticmethod
    def stability_loss(h: Tensor, proj: Tensor, observed: Tensor) -> Tensor:
        """| ||phi_m(h)|| - ||h|| | averaged over each modality's observed rows, summed over
        modalities (a modality observed nowhere adds 0). Re-uses phi(h) of the similarity:
        the projection is row-wise, so its rows equal those of phi(h[observed])."""
        gap = (proj.norm(dim=-1) - h.norm(dim=-1)).abs()  # [M, B]
        w = observed.to(gap.dtype)
        return ((gap * w).sum(1) / w.sum(1).clamp_min(1)).sum()
