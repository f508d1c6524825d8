"""The paper's polysemanticity (predictive-noisy entanglement) on heads whose answer is known
(mmc/diagnostics/entanglement.py)."""

import math

import pytest
import torch

from mmc.diagnostics.entanglement import (
    factor_shares,
    predictive_noisy_entanglement,
    total_effect_entanglement,
)


def _setup(n: int = 4000):
    # Each modality's block is [2 predictive, 2 noisy] factors themselves (identity encoder).
    g = torch.Generator().manual_seed(0)
    fac = {m: {"predictive": torch.randn(n, 2, generator=g), "noisy": torch.randn(n, 2, generator=g)}
           for m in ("m0", "m1")}  # fmt: skip
    blocks = {m: torch.cat([f["predictive"], f["noisy"]], dim=1) for m, f in fac.items()}
    return blocks, fac


def _row(**on: float) -> list[float]:
    # columns: m0 p p n n | m1 p p n n
    names = ["p0", "p0b", "n0", "n0b", "p1", "p1b", "n1", "n1b"]
    return [on.get(k, 0.0) for k in names]


def test_known_head():
    blocks, fac = _setup()
    weight = torch.tensor([
        _row(p0=1.0, n1=1.0),   # m0 predictive + m1 noisy: entangled (m1's noise)
        _row(p0=1.0, p1=1.0),   # two predictive factors: cross-modal, not entangled
        _row(n0=1.0),           # m0's noise alone: not entangled
        _row(p1=1.0, n0b=1.0),  # m1 predictive + m0 noisy: entangled (m0's noise)
        _row(p0=1.0, n0=1.0),   # predictive and noisy of the *same* modality: not entangled
    ])  # fmt: skip
    out = predictive_noisy_entanglement(weight, blocks, fac)
    assert out["fraction"] == pytest.approx(2 / 5)
    assert out["entangled_noise/m1"] == pytest.approx(1 / 5)
    assert out["entangled_noise/m0"] == pytest.approx(1 / 5)
    pred, noisy = factor_shares(weight, list(blocks.values()), list(fac.values()))
    # neuron 0: half its drive variance from m0's predictive, half from m1's noisy factors
    assert pred[0, 0] == pytest.approx(0.5, abs=0.03) and noisy[0, 1] == pytest.approx(
        0.5, abs=0.03
    )
    assert noisy[0, 0] == pytest.approx(0.0, abs=0.01) and pred[0, 1] == pytest.approx(
        0.0, abs=0.01
    )


def test_small_shares_are_below_the_threshold():
    blocks, fac = _setup()
    # m1's noise holds 1% of the drive variance: below threshold 0.1, not entangled
    weight = torch.tensor([_row(p0=1.0, n1=0.1)])
    assert predictive_noisy_entanglement(weight, blocks, fac)["fraction"] == 0.0
    assert predictive_noisy_entanglement(weight, blocks, fac, threshold=0.005)["fraction"] == 1.0


def test_nonlinear_encoder_is_attributed_by_a_linear_fit():
    # A block that is a scaled copy of the factors (plus a constant) gives the same shares.
    blocks, fac = _setup()
    blocks = {m: 3.0 * b + 1.0 for m, b in blocks.items()}
    weight = torch.tensor([_row(p0=1.0, n1=1.0)])
    assert predictive_noisy_entanglement(weight, blocks, fac)["fraction"] == 1.0


def test_without_factors_it_says_so():
    blocks, fac = _setup()
    out = predictive_noisy_entanglement(torch.ones(3, 8), blocks, {"m0": fac["m0"]})
    assert math.isnan(out["fraction"]) and "factors" in out["note"]


def test_total_effects_of_a_nonlinear_response():
    # Neuron 0: relu(p0) + n1^2 (nonlinear in both, so a linear fit misses the n1 part
    # entirely); neuron 1: p0 + p1 (predictive only); neuron 2: p1 * 0.1 + n0 (mostly noise,
    # p1 below threshold). Redrawing a factor group changes exactly the neurons that read it.
    g = torch.Generator().manual_seed(1)
    n = 20000
    p0, p1, n0, n1 = (torch.randn(n, generator=g) for _ in range(4))
    perm = torch.randperm(n, generator=g)

    def act(p0, p1, n0, n1):
        return torch.stack([torch.relu(p0) + n1**2, p0 + p1, 0.1 * p1 + n0], dim=1)

    a = act(p0, p1, n0, n1)
    resampled = {
        "m0": {"predictive": act(p0[perm], p1, n0, n1), "noisy": act(p0, p1, n0[perm], n1)},
        "m1": {"predictive": act(p0, p1[perm], n0, n1), "noisy": act(p0, p1, n0, n1[perm])},
    }
    out = total_effect_entanglement(a, resampled)
    assert out["fraction"] == pytest.approx(1 / 3)  # neuron 0 only
    assert out["entangled_noise/m1"] == pytest.approx(1 / 3)
    assert out["entangled_noise/m0"] == 0.0
    # a linear fit on the same factors sees no m1-noise response in neuron 0 (n1^2)
    blocks = {"m0": torch.stack([p0, n0], 1), "m1": torch.stack([p1, n1], 1)}
    fac = {m: {"predictive": b[:, :1], "noisy": b[:, 1:]} for m, b in blocks.items()}
    w = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    lin_blocks = {"m0": torch.stack([torch.relu(p0), n0], 1), "m1": torch.stack([p1, n1**2], 1)}
    pred, noisy = factor_shares(w, list(lin_blocks.values()), list(fac.values()))
    assert noisy[0, 1] < 0.01
