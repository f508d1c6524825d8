"""Predictive-noisy entanglement of the fusion head (the collapse paper's polysemanticity,
§3 / Lemma 3): a fusion-head neuron is entangled when it responds both to the *predictive*
factors of one modality and to the *noisy* factors of another. That is the wording of the
paper's mechanism, narrower than "responds to two modalities" (neuron_modality.py): a neuron
that mixes two modalities' predictive factors is no harm.

Needs the generator's latent factors (MultimodalDataset.factors, synthetic_theory). For
neuron n and modality m, the drive w_{n,m} . z_m is regressed (least squares) on m's
predictive factors and, separately, on m's noisy factors; the variance each fit explains,
over the neuron's total drive variance (sum over modalities, as in neuron_modality.py), is
its predictive / noisy share. A linear fit of a nonlinear encoder's output: a lower bound on
how much of the drive each kind of factor accounts for.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _explained(drive: Tensor, f: Tensor) -> Tensor:
    """[H] variance of the least-squares fit of each column of drive [N, H] on f [N, k]."""
    if f.shape[1] == 0:
        return torch.zeros(drive.shape[1], dtype=drive.dtype)
    f = f - f.mean(dim=0)
    coef = torch.linalg.lstsq(f, drive).solution
    return (f @ coef).var(dim=0)


@torch.no_grad()
def factor_shares(
    weight: Tensor, blocks: list[Tensor], factors: list[dict[str, Tensor]]
) -> tuple[Tensor, Tensor]:
    """([H, M] predictive share, [H, M] noisy share) of each neuron's drive."""
    w = weight.detach().double()
    pred, noisy, total, start = [], [], 0.0, 0
    for z, f in zip(blocks, factors):
        d = z.shape[1]
        drive = z.detach().double() @ w[:, start : start + d].T  # [N, H]
        drive = drive - drive.mean(dim=0)
        start += d
        total = total + drive.var(dim=0)
        pred.append(_explained(drive, f["predictive"].double()))
        noisy.append(_explained(drive, f["noisy"].double()))
    total = torch.as_tensor(total).clamp_min(1e-30)[:, None]
    return torch.stack(pred, dim=1) / total, torch.stack(noisy, dim=1) / total


def predictive_noisy_entanglement(
    weight: Tensor,
    blocks: dict[str, Tensor],
    factors: dict[str, dict[str, Tensor]],
    threshold: float = 0.1,
) -> dict[str, float]:
    """Fraction of neurons with a predictive share >= threshold for some modality i and a
    noisy share >= threshold for another modality j; per modality m, the fraction of neurons
    whose entanglement involves m's noise, and m's mean predictive and noisy share."""
    mods = list(blocks)
    if weight.shape[1] != sum(b.shape[1] for b in blocks.values()) or set(mods) - set(factors):
        return {"fraction": math.nan, "note": "needs per-modality blocks and latent factors"}
    pred, noisy = factor_shares(weight, [blocks[m] for m in mods], [factors[m] for m in mods])
    live = torch.isfinite(pred).all(dim=1) & ((pred + noisy).sum(dim=1) > 0)
    pred, noisy = pred[live], noisy[live]
    if len(pred) == 0:
        return {"fraction": math.nan}
    return _entangled(pred, noisy, mods, threshold, "share")


def total_effect_entanglement(
    preact: Tensor, resampled: dict[str, dict[str, Tensor]], threshold: float = 0.1
) -> dict[str, float]:
    """The same entanglement from total-effect (Sobol/Jansen) indices, which a nonlinear
    encoder cannot hide from: S_{n,m,kind} = E[(a_n(x) - a_n(x'))^2] / (2 Var a_n), x' = x with
    modality m's factors of that kind redrawn (permuted across samples), a_n the neuron's
    pre-activation. `preact` [N, H]; `resampled[m][kind]` [N, H] the pre-activations of x'."""
    a = preact.detach().double()
    var = a.var(dim=0).clamp_min(1e-30)
    mods = list(resampled)
    s = {
        kind: torch.stack(
            [((a - resampled[m][kind].double()) ** 2).mean(dim=0) / (2 * var) for m in mods], 1
        )
        for kind in ("predictive", "noisy")
    }  # kind -> [H, M]
    live = a.var(dim=0) > 1e-12
    if not bool(live.any()):
        return {"fraction": math.nan}
    return _entangled(s["predictive"][live], s["noisy"][live], mods, threshold, "effect")


def _entangled(
    pred: Tensor, noisy: Tensor, mods: list[str], threshold: float, what: str
) -> dict[str, float]:
    """From [H, M] predictive and noisy responses of the live neurons: the entangled
    fraction, per modality the fraction entangled through its noise, and the mean responses."""
    p_on, n_on = pred >= threshold, noisy >= threshold
    # noise_of[n, j]: neuron n reads j's noise and some *other* modality's predictive factors
    others_pred = (p_on.sum(dim=1, keepdim=True) - p_on.int()) > 0
    noise_of = n_on & others_pred
    out: dict[str, float] = {
        "fraction": float(noise_of.any(dim=1).double().mean()),
        "threshold": threshold,
    }
    for k, m in enumerate(mods):
        out[f"entangled_noise/{m}"] = float(noise_of[:, k].double().mean())
        out[f"predictive_{what}/{m}"] = float(pred[:, k].mean())
        out[f"noisy_{what}/{m}"] = float(noisy[:, k].mean())
    return out
