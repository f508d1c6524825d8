"""ShaSpec: a missing modality's feature is the mean shared feature of the observed ones."""

import pytest
import torch
from backbone_inputs import make_batch, make_inputs, with_garbage

from mmc.backbones.shaspec import ShaSpec
from mmc.errors import ConfigError


def _model(names, **kw):
    torch.manual_seed(0)
    return ShaSpec(names, 8, 3, **kw).eval()


def test_missing_feature_is_mean_of_observed_shared_features():
    names, emb, mask = make_inputs(n=6, mods=4)
    mask["m2"][1] = False
    mask["m0"][1] = False
    emb["m2"][1] = 0.0
    model = _model(names)
    fused, shared, _ = model.features(emb, mask)
    expected = (shared[1, 1] + shared[1, 3]) / 2
    torch.testing.assert_close(fused[1, 2], expected)
    torch.testing.assert_close(fused[1, 0], expected)
    # observed modalities keep their residual fusion s + proj([s; p]) (not the fill)
    assert not torch.allclose(fused[1, 1], expected)
    torch.testing.assert_close(model.features(with_garbage(emb, mask, 1, "m2"), mask)[0], fused)


def test_first_observed_fill_option_and_bad_value():
    names, emb, mask = make_inputs(n=6, mods=4)
    mask["m0"][1] = False
    model = _model(names, missing_fill="first")
    fused, shared, _ = model.features(emb, mask)
    torch.testing.assert_close(fused[1, 0], shared[1, 1])
    with pytest.raises(ConfigError, match="missing_fill"):
        ShaSpec(names, 8, 3, missing_fill="median")


def test_auxiliary_losses_are_weighted_and_only_in_training():
    names, emb, mask = make_inputs(n=10, rate=0.3)
    batch = make_batch(emb, mask)
    model = _model(names).train()
    losses = model(emb, mask, batch).losses
    assert set(losses) == {"shaspec_align", "shaspec_domain"}
    _, shared, specific = model.features(emb, mask)
    observed = torch.stack([mask[m] for m in names], 1)
    torch.testing.assert_close(
        losses["shaspec_align"], 0.1 * model.alignment_loss(shared, observed)
    )
    torch.testing.assert_close(
        losses["shaspec_domain"], 0.02 * model.domain_loss(specific, observed)
    )
    assert model.eval()(emb, mask, batch).losses == {}


def test_rows_with_nothing_observed_fall_back_to_zero_features():
    names, emb, mask = make_inputs(n=5)
    for m in names:
        mask[m][3] = False
    z = _model(names)(emb, mask, None).z
    assert torch.equal(z[3], torch.zeros_like(z[3]))
