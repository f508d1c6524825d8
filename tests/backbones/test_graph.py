"""The dense bipartite EdgeSAGE layer and MUSE's edge-dropping augmentation."""

import torch

from mmc.backbones.graph import BipartiteGraph, BipartiteSAGE, masked_mean
from mmc.backbones.muse import drop_edges_per_patient


def test_masked_mean_ignores_dropped_values_and_isolated_rows_get_zero():
    values = torch.tensor([[[1.0], [3.0], [1e9]], [[5.0], [7.0], [9.0]]])
    keep = torch.tensor([[True, True, False], [False, False, False]])
    out = masked_mean(values, keep, dim=1)
    assert out.tolist() == [[2.0], [0.0]]


def test_absent_edges_carry_no_information():
    torch.manual_seed(0)
    gnn = BipartiteSAGE(node_in=4, node_dim=6, edge_in=5, edge_dim=6, num_layers=3).eval()
    emb = torch.randn(7, 3, 5)
    observed = torch.rand(7, 3) > 0.4
    observed[0, 1] = False
    patients, modalities = torch.ones(7, 4), torch.randn(3, 4)
    ref, _, _ = gnn(patients, modalities, BipartiteGraph.from_embeddings(emb, observed))
    emb2 = emb.clone()
    emb2[0, 1] = 1e4  # an absent edge's attribute
    out, _, _ = gnn(patients, modalities, BipartiteGraph.from_embeddings(emb2, observed))
    torch.testing.assert_close(out, ref)
    observed_cell = observed.nonzero()[0]
    emb2[observed_cell[0], observed_cell[1]] += 1.0  # a present edge's attribute
    out, _, _ = gnn(patients, modalities, BipartiteGraph.from_embeddings(emb2, observed))
    assert not torch.allclose(out[observed_cell[0]], ref[observed_cell[0]])


def test_edge_drop_keeps_between_one_and_all_but_one_edge():
    torch.manual_seed(0)
    observed = torch.rand(4000, 5) > 0.3
    kept = drop_edges_per_patient(observed, prob=0.5)
    assert not bool((kept & ~observed).any()), "the augmented view may only remove edges"
    count, new = observed.sum(1), kept.sum(1)
    changed = new < count
    assert bool((new[count >= 1] >= 1).all())
    assert not bool(changed[count <= 1].any()), "a patient with one edge keeps it"
    frac = changed[count >= 2].float().mean().item()
    assert 0.45 < frac < 0.55  # augmented with probability 1/2
    # k is uniform on 1..c-1: for c = 5 every k in 1..4 occurs
    assert set(new[changed & (count == 5)].tolist()) == {1, 2, 3, 4}
