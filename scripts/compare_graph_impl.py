"""Dense masked message passing vs torch_geometric, for the graph backbones (a benchmark).

1. The patient-modality bipartite EdgeSAGE stack (MUSE/Grape): mmc.backbones.graph (dense
   [B, M, ...] tensors + observed-mask) against a torch_geometric MessagePassing layer written
   the way the public MUSE/Grape code does it (homogeneous graph of B + M nodes, both edge
   directions listed, per-edge Linear on [x_j || e]). Same weights: the script first checks
   that both give the same output, then times forward + backward.
2. M3Care's propagation over the thresholded patient-patient graph: dense `adj @ x` against
   torch_geometric sparse propagation (edge list from the adjacency's non-zeros), two layers
   per modality.

    .venv/bin/python scripts/compare_graph_impl.py [--threads 1] [--repeats 20]

Prints one line per setting: milliseconds per forward+backward (median) and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import spmm  # noqa: F401  (imported to fail early if missing)

from mmc.backbones.graph import BipartiteGraph, BipartiteSAGE


# --------------------------------------------------------------------------- PyG versions
class PygEdgeSAGE(MessagePassing):
    def __init__(self, node_in: int, node_out: int, edge_dim: int, normalize: bool) -> None:
        super().__init__(aggr="mean")
        self.message_lin = nn.Linear(node_in + edge_dim, node_out)
        self.agg_lin = nn.Linear(node_out + node_in, node_out)
        self.normalize = normalize

    def forward(self, x: Tensor, edge_attr: Tensor, edge_index: Tensor) -> Tensor:
        return self.propagate(edge_index, x=x, edge_attr=edge_attr)

    def message(self, x_j: Tensor, edge_attr: Tensor) -> Tensor:
        return torch.relu(self.message_lin(torch.cat([x_j, edge_attr], dim=-1)))

    def update(self, aggr_out: Tensor, x: Tensor) -> Tensor:
        out = torch.relu(self.agg_lin(torch.cat([aggr_out, x], dim=-1)))
        return nn.functional.normalize(out, dim=-1) if self.normalize else out


class PygStack(nn.Module):
    """The public-code layout, with its weights copied from a dense BipartiteSAGE."""

    def __init__(self, dense: BipartiteSAGE) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.edge_mlps = nn.ModuleList()
        for layer in dense.layers:
            n_in, n_out = layer.upd_self.in_features, layer.upd_agg.out_features
            conv = PygEdgeSAGE(n_in, n_out, layer.msg_edge.in_features, layer.normalize)
            with torch.no_grad():
                conv.message_lin.weight.copy_(
                    torch.cat([layer.msg_node.weight, layer.msg_edge.weight], 1)
                )
                conv.message_lin.bias.copy_(layer.msg_node.bias)
                conv.agg_lin.weight.copy_(
                    torch.cat([layer.upd_agg.weight, layer.upd_self.weight], 1)
                )
                conv.agg_lin.bias.copy_(layer.upd_agg.bias)
            self.convs.append(conv)
        for up in dense.edge_updates:
            lin = nn.Linear(up.src.in_features * 2 + up.edge.in_features, up.src.out_features)
            with torch.no_grad():
                lin.weight.copy_(torch.cat([up.src.weight, up.dst.weight, up.edge.weight], 1))
                lin.bias.copy_(up.src.bias)
            self.edge_mlps.append(lin)

    def forward(self, x: Tensor, edge_attr: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_attr, edge_index)
            if i < len(self.edge_mlps):
                src, dst = x[edge_index[0]], x[edge_index[1]]
                edge_attr = torch.relu(self.edge_mlps[i](torch.cat([src, dst, edge_attr], -1)))
        return x


def pyg_graph(emb: Tensor, observed: Tensor) -> tuple[Tensor, Tensor]:
    """Both edge directions, as the public MUSE code builds them."""
    n = observed.shape[0]
    idx = observed.nonzero().T
    attr = emb[observed]
    forward = torch.stack([idx[0], idx[1] + n])
    return torch.cat([forward, forward.flip(0)], 1), torch.cat([attr, attr], 0)


class PygPropagate(MessagePassing):
    def __init__(self) -> None:
        super().__init__(aggr="add")

    def forward(self, x: Tensor, edge_index: Tensor, weight: Tensor) -> Tensor:
        return self.propagate(edge_index, x=x, weight=weight)

    def message(self, x_j: Tensor, weight: Tensor) -> Tensor:
        return weight.unsqueeze(-1) * x_j


# --------------------------------------------------------------------------- timing
def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def bipartite(batch: int, mods: int, dim: int, rate: float, repeats: int) -> str:
    torch.manual_seed(0)
    dense = BipartiteSAGE(node_in=dim, node_dim=dim, edge_in=dim, edge_dim=dim, num_layers=2)
    pyg = PygStack(dense)
    emb = torch.randn(batch, mods, dim, requires_grad=True)
    observed = torch.rand(batch, mods) >= rate
    modality_nodes = torch.randn(mods, dim, requires_grad=True)

    def run_dense():
        z, _, _ = dense(
            torch.ones(batch, dim), modality_nodes, BipartiteGraph.from_embeddings(emb, observed)
        )
        return z

    def run_pyg():
        # building the edge list is part of every step, as in the public code
        edge_index, attr = pyg_graph(emb, observed)
        x = torch.cat([torch.ones(batch, dim), modality_nodes])
        return pyg(x, attr, edge_index)[:batch]

    diff = (run_dense() - run_pyg()).abs().max().item()
    t_dense = timed(lambda: run_dense().sum().backward(), repeats)
    t_pyg = timed(lambda: run_pyg().sum().backward(), repeats)
    return (
        f"bipartite EdgeSAGE  B={batch:5d} M={mods} d={dim} missing={rate:.1f}: "
        f"dense {t_dense:7.2f} ms  pyg {t_pyg:7.2f} ms  pyg/dense {t_pyg / t_dense:5.2f}  "
        f"max|diff| {diff:.1e}"
    )


def patient_graph(batch: int, mods: int, dim: int, density: float, repeats: int) -> str:
    torch.manual_seed(0)
    adj = torch.rand(batch, batch) * (torch.rand(batch, batch) < density)
    adj = adj / adj.sum(1, keepdim=True).clamp_min(1e-12)
    lins = nn.ModuleList(nn.Linear(dim, dim) for _ in range(2 * mods))
    h = torch.randn(mods, batch, dim, requires_grad=True)
    prop = PygPropagate()

    def run_dense():
        out = []
        for m in range(mods):
            g = torch.relu(adj @ lins[2 * m](h[m]))
            out.append(torch.relu(adj @ lins[2 * m + 1](g)))
        return torch.stack(out)

    def run_pyg():
        # the adjacency is dense by construction (a kernel over all pairs): the edge list
        # has to be extracted every step
        edge_index = adj.nonzero().T
        weight = adj[edge_index[0], edge_index[1]]
        # PyG's messages flow source -> target: row i aggregates columns j
        edge_index = edge_index.flip(0)
        out = []
        for m in range(mods):
            g = torch.relu(prop(lins[2 * m](h[m]), edge_index, weight))
            out.append(torch.relu(prop(lins[2 * m + 1](g), edge_index, weight)))
        return torch.stack(out)

    diff = (run_dense() - run_pyg()).abs().max().item()
    t_dense = timed(lambda: run_dense().sum().backward(), repeats)
    t_pyg = timed(lambda: run_pyg().sum().backward(), repeats)
    return (
        f"M3Care propagation  B={batch:5d} M={mods} d={dim} density={density:.2f}: "
        f"dense {t_dense:7.2f} ms  pyg {t_pyg:7.2f} ms  pyg/dense {t_pyg / t_dense:5.2f}  "
        f"max|diff| {diff:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats}")
    for batch in (512, 2048):
        for rate in (0.0, 0.5, 0.9):
            print(bipartite(batch, 4, 128, rate, args.repeats), flush=True)
    # (PyG at B=2048 with half the pairs connected takes minutes per step: left out)
    for batch, density in ((512, 0.5), (512, 0.05), (512, 0.01), (2048, 0.05), (2048, 0.01)):
        print(patient_graph(batch, 4, 128, density, args.repeats), flush=True)


if __name__ == "__main__":
    main()
