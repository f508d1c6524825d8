"""Grape: masked modalities carry no information, edge dropout only while training."""

import torch
from backbone_inputs import make_batch, make_inputs, with_garbage

from mmc.backbones.grape import Grape


def _model(names, **kw):
    torch.manual_seed(0)
    return Grape(names, 8, 3, node_dim=16, edge_dim=16, impute_hidden=16, **kw)


def test_masked_modality_input_cannot_change_any_output():
    names, emb, mask = make_inputs(rate=0.4)
    model = _model(names).eval()
    row, m = next((r, m) for m in names for r in range(12) if not mask[m][r])
    ref = model(emb, mask, None).z
    torch.testing.assert_close(model(with_garbage(emb, mask, row, m), mask, None).z, ref)
    assert ref.shape == (12, 3 * 8)


def test_edge_dropout_only_in_training():
    names, emb, mask = make_inputs(rate=0.0)
    model = _model(names, known=0.5)
    batch = make_batch(emb, mask)
    model.eval()
    torch.testing.assert_close(model(emb, mask, batch).z, model(emb, mask, batch).z)
    model.train()
    torch.manual_seed(1)
    a = model(emb, mask, batch).z
    b = model(emb, mask, batch).z
    assert not torch.allclose(a, b)
    keep_all = _model(names, known=1.0).train()
    torch.testing.assert_close(keep_all(emb, mask, batch).z, keep_all.eval()(emb, mask, None).z)


def test_missing_modality_is_imputed_from_the_graph_not_zero():
    names, emb, mask = make_inputs(rate=0.0)
    mask["m1"][0] = False
    emb["m1"][0] = 0.0
    z = _model(names).eval()(emb, mask, None).z.view(12, 3, 8)
    assert z[0, 1].abs().sum() > 0
    for m in names:
        mask[m][4] = False
    z = _model(names).eval()(emb, mask, None).z
    assert torch.isfinite(z).all()
