"""Modality-collapse measures for image/text embeddings (definitions in docs/retrieval.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _offdiag_cos(emb: Tensor) -> Tensor:
    e = F.normalize(emb.float(), dim=-1)
    sim = e @ e.T
    n = sim.shape[0]
    return sim[~torch.eye(n, dtype=torch.bool, device=sim.device)]


def intra_modal_cosine(emb: Tensor) -> float:
    """Mean cosine similarity over distinct pairs of one modality's embeddings."""
    return float(_offdiag_cos(emb).mean()) if emb.shape[0] > 1 else float("nan")


def intra_modal_cosine_sd(emb: Tensor) -> float:
    """Standard deviation of the cosine similarity over distinct pairs of one modality.

    The scale of the concentration ratio: a set whose mean intra-modal cosine sits k of the
    real pairs' sd above the real mean has a ratio near Phi(k) (Gaussian pair cosines), so
    the same cosine rise moves the ratio far more where the cosines are tightly spread
    (a 2304-d common cone) than where they are wide (a low-dimensional, centred embedding).
    """
    return float(_offdiag_cos(emb).std()) if emb.shape[0] > 2 else float("nan")


def standardised_shift(emb: Tensor, reference_mean: float, reference_sd: float) -> float:
    """(mean intra-modal cosine of `emb` - reference_mean) / reference_sd: the rise in units
    of the real pairs' cosine spread, comparable across embedding widths."""
    if not reference_sd > 0:
        return float("nan")
    return (intra_modal_cosine(emb) - reference_mean) / reference_sd


def concentration_ratio(emb: Tensor, reference_mean: float) -> float:
    """Share of distinct pairs more similar than the real data's mean intra-modal cosine.

    Near 0.5 for embeddings spread like the real data, towards 1 when they concentrate.
    """
    return (
        float((_offdiag_cos(emb) > reference_mean).float().mean())
        if emb.shape[0] > 1
        else float("nan")
    )


def modality_gap(img_emb: Tensor, txt_emb: Tensor) -> float:
    """Distance between the means of the L2-normalised image and text embeddings."""
    a = F.normalize(img_emb.float(), dim=-1).mean(0)
    b = F.normalize(txt_emb.float(), dim=-1).mean(0)
    return float((a - b).norm())


def relative_update(after: Tensor, before: Tensor) -> float:
    """Mean over samples of ||after - before|| / ||before|| (how far distillation moved them)."""
    num = (after.float() - before.float()).flatten(1).norm(dim=1)
    den = before.float().flatten(1).norm(dim=1).clamp_min(1e-12)
    return float((num / den).mean())


def collapse_metrics(
    img_emb: Tensor, txt_emb: Tensor, reference: dict[str, float] | None = None
) -> dict[str, float]:
    """Intra-modal cosine and its sd over pairs, concentration ratio (against `reference`
    intra-modal means, or the set's own), and modality gap of paired embeddings.

    When `reference` also holds the real pairs' cosine sds (`image_sd`, `text_sd`), the
    standardised shift of each modality's mean cosine (`shift_sd/*`) is added."""
    ic, tc = intra_modal_cosine(img_emb), intra_modal_cosine(txt_emb)
    ref = reference or {"image": ic, "text": tc}
    out = {
        "intra_cos/image": ic,
        "intra_cos/text": tc,
        "intra_cos_sd/image": intra_modal_cosine_sd(img_emb),
        "intra_cos_sd/text": intra_modal_cosine_sd(txt_emb),
        "concentration/image": concentration_ratio(img_emb, ref["image"]),
        "concentration/text": concentration_ratio(txt_emb, ref["text"]),
        "modality_gap": modality_gap(img_emb, txt_emb),
    }
    for m, emb in (("image", img_emb), ("text", txt_emb)):
        if f"{m}_sd" in ref:
            out[f"shift_sd/{m}"] = standardised_shift(emb, ref[m], ref[f"{m}_sd"])
    return out
