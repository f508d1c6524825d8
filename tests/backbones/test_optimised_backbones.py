"""Optimised backbones give the outputs, auxiliary losses and gradients of the code before the
optimisation (kept verbatim under tests/backbones/reference/), within float tolerance."""

import pytest
import torch
from backbone_inputs import make_batch, make_inputs

from mmc.backbones.m3care import M3Care
from mmc.backbones.shaspec import ShaSpec
from tests.backbones.reference.m3care_before import M3Care as M3CareBefore
from tests.backbones.reference.shaspec_before import ShaSpec as ShaSpecBefore


def _outputs(model, emb, mask, batch):
    emb = {m: e.clone().requires_grad_() for m, e in emb.items()}
    out = model(emb, mask, batch)
    # A fixed random read-out of z plus the auxiliary losses: every path gets a gradient.
    weights = torch.randn(out.z.shape, generator=torch.Generator().manual_seed(1))
    loss = (out.z * weights).sum() + sum(out.losses.values())
    loss.backward()
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    return out, grads, {m: e.grad for m, e in emb.items()}


def _close_relative(new, old, what):
    """Gradients are sums over rows, heads and modalities whose order the rewrite changed:
    compared relative to each tensor's largest entry."""
    scale = float(old.abs().max()) + 1e-12
    torch.testing.assert_close(new, old, rtol=1e-4, atol=1e-4 * scale, msg=lambda s: f"{what}: {s}")


@pytest.mark.parametrize(
    "kw",
    [
        {},  # published defaults at a small width
        {"receive_if_missing": False},
        {"hidden": None},  # working width = model.dim: no input maps
        {"threshold_init": -20.0},  # dense graph
    ],
)
@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_m3care_matches_the_code_before_vectorising(kw, rate):
    names, emb, mask = make_inputs(n=40, mods=4, dim=16, rate=rate, seed=3)
    if rate:
        for m in names:  # a row with nothing observed
            mask[m][5] = False
            emb[m][5] = 0.0
    args = dict(hidden=32, heads=[4, 1], stability_weight=0.1) | kw
    torch.manual_seed(0)
    new = M3Care(names, 16, 3, **args).train()
    old = M3CareBefore(names, 16, 3, **args).train()
    old.load_state_dict(new.state_dict())
    batch = make_batch(emb, mask)
    out_new, grads_new, emb_grads_new = _outputs(new, emb, mask, batch)
    out_old, grads_old, emb_grads_old = _outputs(old, emb, mask, batch)
    tol = {"rtol": 1e-4, "atol": 1e-5}
    torch.testing.assert_close(out_new.z, out_old.z, **tol)
    assert out_new.losses.keys() == out_old.losses.keys() == {"m3care_stability"}
    torch.testing.assert_close(
        out_new.losses["m3care_stability"], out_old.losses["m3care_stability"], **tol
    )
    assert grads_new.keys() == grads_old.keys()
    for k in grads_old:
        _close_relative(grads_new[k], grads_old[k], k)
    for m in names:
        _close_relative(emb_grads_new[m], emb_grads_old[m], f"d/d emb[{m}]")


@pytest.mark.parametrize("fill", ["mean", "first"])
@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_shaspec_matches_the_code_before_vectorising(fill, rate):
    names, emb, mask = make_inputs(n=40, mods=4, dim=16, rate=rate, seed=4)
    torch.manual_seed(0)
    new = ShaSpec(names, 16, 3, missing_fill=fill).train()
    old = ShaSpecBefore(names, 16, 3, missing_fill=fill).train()
    old.load_state_dict(new.state_dict())
    batch = make_batch(emb, mask)
    out_new, grads_new, _ = _outputs(new, emb, mask, batch)
    out_old, grads_old, _ = _outputs(old, emb, mask, batch)
    torch.testing.assert_close(out_new.z, out_old.z)
    assert out_new.losses.keys() == out_old.losses.keys() == {"shaspec_align", "shaspec_domain"}
    for k in out_old.losses:
        torch.testing.assert_close(out_new.losses[k], out_old.losses[k], rtol=1e-5, atol=1e-6)
    for k in grads_old:
        _close_relative(grads_new[k], grads_old[k], k)
