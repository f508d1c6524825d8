"""MUSE: no edge for a masked modality, masked inputs cannot move predictions, losses."""

import torch
from backbone_inputs import make_batch, make_inputs, with_garbage

from mmc.backbones.muse import MUSE


def _model(names, dim=8, **kw):
    torch.manual_seed(0)
    return MUSE(names, dim, 3, hidden=16, **kw)


def test_graph_has_edges_exactly_for_observed_modalities():
    names, emb, mask = make_inputs(rate=0.4)
    graph = _model(names).graph(emb, mask)
    assert torch.equal(graph.observed, torch.stack([mask[m] for m in names], 1))


def test_masked_modality_input_cannot_change_any_prediction():
    names, emb, mask = make_inputs(rate=0.4)
    model = _model(names).eval()
    row, m = next((r, m) for m in names for r in range(12) if not mask[m][r])
    ref = model(emb, mask, None)
    out = model(with_garbage(emb, mask, row, m), mask, None)
    torch.testing.assert_close(out.logits, ref.logits)
    # ...while an observed input of the same sample does change its prediction
    obs = next(o for o in names if mask[o][row])
    emb[obs] = emb[obs].clone()
    emb[obs][row] += 3.0
    assert not torch.allclose(model(emb, mask, None).logits[row], ref.logits[row])


def test_contrastive_losses_weighted_and_unlabelled_rows_only_in_unsup():
    names, emb, mask = make_inputs(n=16, rate=0.3)
    model = _model(names, dropout=0.0).train()
    labelled = torch.arange(16) < 10
    batch = make_batch(emb, mask, labelled=labelled)

    def losses(b):
        torch.manual_seed(1)  # same augmented view
        return {k: float(v.detach()) for k, v in model(emb, mask, b).losses.items()}

    ref = losses(batch)
    assert set(ref) == {"muse_unsup", "muse_sup"} and all(v > 0 for v in ref.values())
    relabel = make_batch(emb, mask, labelled=labelled)
    relabel.y = batch.y.clone()
    relabel.y[~labelled] = (batch.y[~labelled] + 1) % 3
    assert losses(relabel) == ref, "labels of unlabelled rows must not enter any loss"
    relabel.y[0] = (batch.y[0] + 1) % 3
    assert losses(relabel)["muse_sup"] != ref["muse_sup"]
    assert (
        "muse_sup"
        not in model(
            emb, mask, make_batch(emb, mask, labelled=torch.zeros(16, dtype=torch.bool))
        ).losses
    )
    half = _model(names, dropout=0.0, unsup_weight=0.25, sup_weight=0.5).train()
    half.load_state_dict(model.state_dict())
    torch.manual_seed(1)
    assert (
        abs(float(half(emb, mask, batch).losses["muse_unsup"].detach()) - ref["muse_unsup"] / 2)
        < 1e-5
    )
    assert model.eval()(emb, mask, batch).losses == {}


def test_rows_with_nothing_observed_get_the_empty_patient_output():
    names, emb, mask = make_inputs(rate=0.3)
    for m in names:
        mask[m][[2, 5]] = False
        emb[m][[2, 5]] = torch.randn(2, 8) * 100  # garbage, masked
    out = _model(names).eval()(emb, mask, None)
    assert torch.isfinite(out.logits).all()
    torch.testing.assert_close(out.logits[2], out.logits[5])
