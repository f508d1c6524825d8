"""M3Care: a missing modality is imputed from observed neighbours (and moves with them)."""

import torch
from backbone_inputs import make_batch, make_inputs, with_garbage

from mmc.backbones.m3care import M3Care


def _model(names, **kw):
    torch.manual_seed(0)
    # threshold_init very low: every pair sharing a modality is a neighbour
    return M3Care(names, 8, 3, hidden=8, heads=[2, 1], threshold_init=-20.0, **kw).eval()


def _inputs():
    names, emb, mask = make_inputs(n=10, mods=2)
    mask["m1"][0] = False
    emb["m1"][0] = 0.0
    return names, emb, mask


def test_imputation_moves_when_observed_neighbours_change():
    names, emb, mask = _inputs()
    model = _model(names)
    tokens, valid, *_ = model.impute(emb, mask)
    assert bool(valid[0, 1])
    moved = {m: e.clone() for m, e in emb.items()}
    moved["m1"][1:] += 2.0  # the neighbours' m1 embeddings
    assert not torch.allclose(model.impute(moved, mask)[0][0, 1], tokens[0, 1])
    # ...and cannot depend on the sample's own (masked) m1 input
    torch.testing.assert_close(model.impute(with_garbage(emb, mask, 0, "m1"), mask)[0], tokens)


def test_public_code_option_gives_missing_samples_nothing():
    names, emb, mask = _inputs()
    model = _model(names, receive_if_missing=False)
    tokens, valid, *_ = model.impute(emb, mask)
    assert not bool(valid[0, 1]) and torch.equal(tokens[0, 1], torch.zeros(8))
    moved = {m: e.clone() for m, e in emb.items()}
    moved["m1"][1:] += 2.0
    torch.testing.assert_close(model.impute(moved, mask)[0][0, 1], tokens[0, 1])


def test_threshold_cuts_edges_and_is_learned():
    names, emb, mask = _inputs()
    model = _model(names)
    observed = torch.stack([mask[m] for m in names], 1)
    edges_all = int((model.similarity(emb, observed) > 0).sum())
    model.threshold.data.fill_(20.0)  # t = sigmoid(20) ~ 1 cuts pairs whose similarity < 1
    edges_cut = int((model.similarity(emb, observed) > 0).sum())
    assert edges_cut < edges_all
    model.threshold.data.fill_(0.0)
    model.train()
    out = model(emb, mask, make_batch(emb, mask))
    out.z.sum().backward()
    assert model.threshold.grad is not None and model.threshold.grad != 0
    assert set(out.losses) == {"m3care_stability"}


def test_rows_with_nothing_observed_fall_back_to_zero():
    names, emb, mask = make_inputs(n=6, mods=2)
    for m in names:
        mask[m][2] = False
    out = _model(names)(emb, mask, None)
    assert torch.isfinite(out.z).all() and torch.equal(out.z[2], torch.zeros_like(out.z[2]))
