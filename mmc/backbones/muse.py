"""MUSE (Wu et al., ICLR 2024): mutual-consistent graph contrastive learning.

Per batch, a bipartite graph of B patient nodes (initialised to ones) and M learnable modality
nodes, with an edge each way per *observed* (patient, modality) pair whose attribute is the
modality's embedding (mmc.backbones.graph). Two edge-aware SAGE layers give the patient
representation z; MUSE's own classifier maps z to logits.

Training adds an augmented view in which each patient, with probability 1/2, keeps only a
random k of its c observed edges (1 <= k < c), and two contrastive terms on the projections
u = normalize(tanh(W z)) at a fixed scale 1/0.07:
- unsupervised: symmetric InfoNCE between the original and augmented view, over *all* rows,
  labelled or not (MUSE+ uses unlabelled patients this way);
- supervised: on labelled rows only, binary cross-entropy of the scaled similarities against
  label equality, for u.u^T, u.u~^T and u~.u^T weighted 2:1:1.
The published total is task + 0.5 unsup + 0.5 sup; the two extra terms are returned as
`muse_unsup` and `muse_sup`.

Caveat kept from the method: modality nodes aggregate over the batch's patients, so a
prediction depends on which other patients share its batch (evaluation uses
train.eval_batch_size batches). A patient with no observed modality is an isolated node: its
representation is that of an empty patient (a constant), i.e. the model's prior.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmc.backbones.base import FusionBackbone, FusionOutput
from mmc.backbones.graph import BipartiteGraph, BipartiteSAGE
from mmc.data.batch import Batch
from mmc.errors import check


def drop_edges_per_patient(observed: Tensor, prob: float = 0.5) -> Tensor:
    """MUSE's augmentation: with probability `prob` a patient with c >= 2 observed edges keeps
    a uniformly random k in [1, c-1] of them, chosen uniformly; other patients keep all."""
    count = observed.sum(1)
    augment = (torch.rand(count.shape, device=observed.device) < prob) & (count >= 2)
    # k ~ U{1, ..., c-1}
    keep_k = 1 + (torch.rand(count.shape, device=observed.device) * (count - 1).clamp_min(1)).long()
    # A random order of the observed edges of each patient: rank of a random score.
    scores = torch.rand(observed.shape, device=observed.device).masked_fill(~observed, 2.0)
    rank = scores.argsort(1).argsort(1)
    kept = observed & (rank < keep_k.unsqueeze(1))
    return torch.where(augment.unsqueeze(1), kept, observed)


class MUSE(FusionBackbone):
    def __init__(
        self,
        modalities: list[str],
        dim: int,
        num_outputs: int,
        hidden: int | None = 128,
        num_layers: int = 2,
        dropout: float = 0.25,
        normalize: bool = False,
        temperature: float = 0.07,
        augment_prob: float = 0.5,
        unsup_weight: float = 0.5,
        sup_weight: float = 0.5,
    ) -> None:
        super().__init__(modalities, dim, num_outputs)
        hidden = hidden or dim
        check(num_layers >= 1, f"backbone.num_layers={num_layers} must be at least 1")
        check(temperature > 0, f"backbone.temperature={temperature} must be > 0")
        check(0 <= augment_prob <= 1, f"backbone.augment_prob={augment_prob} must be in [0, 1]")
        self.hidden = hidden
        self.modality_nodes = nn.Parameter(torch.randn(len(modalities), hidden))
        self.gnn = BipartiteSAGE(
            node_in=hidden, node_dim=hidden, edge_in=dim, edge_dim=hidden,
            num_layers=num_layers, dropout=dropout, normalize=normalize,
        )  # fmt: skip
        self.input_dropout = nn.Dropout(dropout)
        self.projection = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh())
        self.classifier = nn.Sequential(
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_outputs),
        )
        self.scale = 1.0 / temperature
        self.augment_prob = augment_prob
        self.unsup_weight, self.sup_weight = unsup_weight, sup_weight
        self.out_dim = hidden

    def graph(self, emb: dict[str, Tensor], mask: dict[str, Tensor]) -> BipartiteGraph:
        stacked = torch.stack([emb[m] for m in self.modalities], dim=1)
        observed = torch.stack([mask[m] for m in self.modalities], dim=1)
        return BipartiteGraph.from_embeddings(self.input_dropout(stacked), observed)

    def encode_graph(self, graph: BipartiteGraph) -> Tensor:
        patients = torch.ones(
            graph.observed.shape[0], self.hidden, device=graph.observed.device,
            dtype=self.modality_nodes.dtype,
        )  # fmt: skip
        z, _, _ = self.gnn(patients, self.modality_nodes, graph)
        return z

    def forward(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None = None
    ) -> FusionOutput:
        graph = self.graph(emb, mask)
        z = self.encode_graph(graph)
        logits = self.classifier(z)
        losses: dict[str, Tensor] = {}
        if self.training and batch is not None and (self.unsup_weight or self.sup_weight):
            aug = BipartiteGraph.from_embeddings(
                graph.to_patient, drop_edges_per_patient(graph.observed, self.augment_prob)
            )
            z_aug = self.encode_graph(aug)
            u = F.normalize(self.projection(z), dim=-1)
            u_aug = F.normalize(self.projection(z_aug), dim=-1)
            if self.unsup_weight:
                losses["muse_unsup"] = self.unsup_weight * self.unsupervised_loss(u, u_aug)
            labelled = batch.labelled
            if self.sup_weight and int(labelled.sum()) > 0:
                losses["muse_sup"] = self.sup_weight * self.supervised_loss(
                    u[labelled], u_aug[labelled], batch.y[labelled]
                )
        return FusionOutput(z=z, logits=logits, losses=losses)

    def unsupervised_loss(self, u: Tensor, u_aug: Tensor) -> Tensor:
        sim = u @ u_aug.T * self.scale
        target = torch.arange(sim.shape[0], device=sim.device)
        return 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))

    def supervised_loss(self, u: Tensor, u_aug: Tensor, y: Tensor) -> Tensor:
        same = (y.view(-1, 1) == y.view(1, -1)).to(u.dtype)
        cross = u @ u_aug.T * self.scale

        def bce(logits: Tensor) -> Tensor:
            return F.binary_cross_entropy_with_logits(logits, same)

        return (2 * bce(u @ u.T * self.scale) + bce(cross) + bce(cross.T)) / 4
