"""Dense masked message passing on the per-batch patient-modality bipartite graph.

MUSE and Grape (modality-level) both build, for each batch, a bipartite graph with B patient
nodes, M modality nodes and one edge each way per *observed* (patient, modality) pair whose
attribute starts as that modality's embedding. Because the graph is bipartite with only M
modality nodes, every edge quantity fits in a dense [B, M, ...] tensor and the observed-mask
[B, M] plays the role of the edge list: messages along absent edges are computed and then
discarded with `torch.where`, so a missing modality's embedding can never reach a node.

Why dense rather than torch_geometric: scripts/compare_graph_impl.py checks that both give the
same numbers and measures both; the dense form is faster on CPU at the sizes this project
uses (see docs/backbones.md for the figures).

The layer is GraphSAGE with edge features as in Grape/MUSE:
    message  m_{j->i} = act(W_m [x_j || e_ji])            (j = source, i = target)
    update   x_i'     = act(W_u [mean_j m_{j->i} || x_i])  (optionally L2-normalised)
    edge     e_ji'    = act(W_e [x_j' || x_i' || e_ji])    (between layers)
with one set of weights for both node types (a homogeneous graph, as in the public code).
Linear maps of concatenations are split into a sum of per-part maps so that node terms are
computed once per node instead of once per edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class BipartiteGraph:
    """Edge state of one batch. `to_patient[b, m]` is the edge m -> b, `to_modality[b, m]`
    the edge b -> m; both are meaningful only where `observed[b, m]`."""

    observed: Tensor  # [B, M] bool
    to_patient: Tensor  # [B, M, E]
    to_modality: Tensor  # [B, M, E]

    @classmethod
    def from_embeddings(cls, emb: Tensor, observed: Tensor) -> BipartiteGraph:
        """emb [B, M, E]: edge attributes are the modality embeddings, zeroed where absent."""
        attr = torch.where(observed.unsqueeze(-1), emb, 0.0)
        return cls(observed=observed, to_patient=attr, to_modality=attr)


def masked_mean(values: Tensor, keep: Tensor, dim: int) -> Tensor:
    """Mean of `values` over `dim` where `keep`; 0 where nothing is kept (isolated node)."""
    kept = torch.where(keep.unsqueeze(-1), values, 0.0)
    count = keep.sum(dim).clamp_min(1).to(values.dtype).unsqueeze(-1)
    return kept.sum(dim) / count


class EdgeSAGELayer(nn.Module):
    """One edge-aware SAGE layer applied to both sides of the bipartite graph."""

    def __init__(self, node_in: int, node_out: int, edge_dim: int, normalize: bool = False) -> None:
        super().__init__()
        self.msg_node = nn.Linear(node_in, node_out)  # W_m restricted to x_j (carries the bias)
        self.msg_edge = nn.Linear(edge_dim, node_out, bias=False)  # W_m restricted to e
        self.upd_agg = nn.Linear(node_out, node_out)  # W_u restricted to the aggregate
        self.upd_self = nn.Linear(node_in, node_out, bias=False)  # W_u restricted to x_i
        self.normalize = normalize

    def forward(
        self, patients: Tensor, modalities: Tensor, graph: BipartiteGraph
    ) -> tuple[Tensor, Tensor]:
        obs = graph.observed
        # messages modality -> patient: [B, M, out]; patient -> modality: [B, M, out]
        e_to_p = self.msg_edge(graph.to_patient)
        # Before the first edge update both directions share one attribute tensor.
        e_to_m = (
            e_to_p if graph.to_modality is graph.to_patient else self.msg_edge(graph.to_modality)
        )
        to_p = F.relu(self.msg_node(modalities).unsqueeze(0) + e_to_p)
        to_m = F.relu(self.msg_node(patients).unsqueeze(1) + e_to_m)
        agg_p = masked_mean(to_p, obs, dim=1)  # [B, out]
        agg_m = masked_mean(to_m, obs, dim=0)  # [M, out]
        new_p = F.relu(self.upd_agg(agg_p) + self.upd_self(patients))
        new_m = F.relu(self.upd_agg(agg_m) + self.upd_self(modalities))
        if self.normalize:
            new_p, new_m = F.normalize(new_p, dim=-1), F.normalize(new_m, dim=-1)
        return new_p, new_m


class EdgeUpdate(nn.Module):
    """e_{src->dst}' = act(W [x_src || x_dst || e]) for both edge directions."""

    def __init__(self, node_dim: int, edge_in: int, edge_out: int) -> None:
        super().__init__()
        self.src = nn.Linear(node_dim, edge_out)
        self.dst = nn.Linear(node_dim, edge_out, bias=False)
        self.edge = nn.Linear(edge_in, edge_out, bias=False)

    def forward(
        self, patients: Tensor, modalities: Tensor, graph: BipartiteGraph
    ) -> BipartiteGraph:
        p_src, m_src = self.src(patients).unsqueeze(1), self.src(modalities).unsqueeze(0)
        p_dst, m_dst = self.dst(patients).unsqueeze(1), self.dst(modalities).unsqueeze(0)
        to_modality = F.relu(p_src + m_dst + self.edge(graph.to_modality))
        to_patient = F.relu(m_src + p_dst + self.edge(graph.to_patient))
        return BipartiteGraph(graph.observed, to_patient=to_patient, to_modality=to_modality)


class BipartiteSAGE(nn.Module):
    """A stack of EdgeSAGE layers with dropout and edge updates between layers."""

    def __init__(
        self,
        node_in: int,
        node_dim: int,
        edge_in: int,
        edge_dim: int,
        num_layers: int,
        dropout: float = 0.0,
        normalize: bool = False,
        update_last_edges: bool = False,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        self.edge_updates = nn.ModuleList()
        n_in, e_in = node_in, edge_in
        for i in range(num_layers):
            self.layers.append(EdgeSAGELayer(n_in, node_dim, e_in, normalize))
            if i < num_layers - 1 or update_last_edges:
                self.edge_updates.append(EdgeUpdate(node_dim, e_in, edge_dim))
            n_in, e_in = node_dim, edge_dim
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, patients: Tensor, modalities: Tensor, graph: BipartiteGraph
    ) -> tuple[Tensor, Tensor, BipartiteGraph]:
        for i, layer in enumerate(self.layers):
            patients, modalities = layer(patients, modalities, graph)
            if i < len(self.layers) - 1:
                patients, modalities = self.dropout(patients), self.dropout(modalities)
            if i < len(self.edge_updates):
                graph = self.edge_updates[i](patients, modalities, graph)
        return patients, modalities, graph
