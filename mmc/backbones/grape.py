"""Grape (You et al., NeurIPS 2020) adapted to modality-level nodes.

Grape turns a table with missing cells into a bipartite graph of sample nodes and feature
nodes, one edge per observed cell with the cell's value as edge attribute, runs edge-aware
SAGE layers (mmc.backbones.graph; L2-normalised node embeddings, an edge-update MLP after
each layer), imputes every cell from the two node embeddings it joins, and predicts the label
from the imputed row. Here the "features" are the modalities and a cell's value is the
modality's embedding (the adaptation methods.md calls natural: MUSE's graph without the
contrastive terms). As in Grape: sample nodes start as ones, feature nodes as one-hot
vectors, and training keeps each observed edge with probability `known` (edge dropout);
evaluation uses every observed edge.

z = [impute(h_b, h_m) for each modality m], so missing modalities are *imputed* from the
graph rather than read as zeros; the shared head plays the role of Grape's predict MLP.
Grape's label mode trains no imputation loss, and neither does this. A sample with no
observed modality is an isolated node: its row is imputed from an empty patient (a constant).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmc.backbones.base import FusionBackbone, FusionOutput
from mmc.backbones.graph import BipartiteGraph, BipartiteSAGE
from mmc.data.batch import Batch
from mmc.errors import check


class Grape(FusionBackbone):
    def __init__(
        self,
        modalities: list[str],
        dim: int,
        num_outputs: int,
        node_dim: int = 64,
        edge_dim: int = 64,
        num_layers: int = 3,
        impute_hidden: int = 64,
        known: float = 0.7,
        dropout: float = 0.0,
        normalize: bool = True,
    ) -> None:
        super().__init__(modalities, dim, num_outputs)
        check(num_layers >= 1, f"backbone.num_layers={num_layers} must be at least 1")
        check(0 < known <= 1, f"backbone.known={known} is the edge keep probability; use (0, 1]")
        n = len(modalities)
        self.register_buffer("modality_init", torch.eye(n), persistent=False)
        self.gnn = BipartiteSAGE(
            node_in=n, node_dim=node_dim, edge_in=dim, edge_dim=edge_dim,
            num_layers=num_layers, dropout=dropout, normalize=normalize,
        )  # fmt: skip
        # Grape's node post-MLP (one hidden layer of node_dim).
        self.post = nn.Sequential(
            nn.Linear(node_dim, node_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(node_dim, node_dim),
        )
        self.impute = nn.Sequential(
            nn.Linear(2 * node_dim, impute_hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(impute_hidden, dim),
        )  # fmt: skip
        self.known = known
        self.out_dim = n * dim

    def forward(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None = None
    ) -> FusionOutput:
        stacked = torch.stack([emb[m] for m in self.modalities], dim=1)
        observed = torch.stack([mask[m] for m in self.modalities], dim=1)
        if self.training and self.known < 1:
            observed = observed & (torch.rand(observed.shape, device=observed.device) < self.known)
        graph = BipartiteGraph.from_embeddings(stacked, observed)
        n_patients, n_mod = observed.shape
        patients = torch.ones(n_patients, n_mod, device=stacked.device, dtype=stacked.dtype)
        h_p, h_m, _ = self.gnn(patients, self.modality_init.to(stacked.dtype), graph)
        h_p, h_m = self.post(h_p), self.post(h_m)
        pairs = torch.cat(
            [h_p.unsqueeze(1).expand(-1, n_mod, -1), h_m.unsqueeze(0).expand(n_patients, -1, -1)],
            dim=-1,
        )
        row = self.impute(pairs)  # [B, M, dim]: every cell imputed from the graph
        return FusionOutput(z=row.flatten(1))
