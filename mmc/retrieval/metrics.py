"""Retrieval recall: TR@k (image -> text) and IR@k (text -> image)."""

from __future__ import annotations

import torch
from torch import Tensor


def _hit_prob(better: Tensor, tied_other: Tensor, tied_own: Tensor, k: int) -> Tensor:
    """P(an own item lands in the top k) when the tie block is ordered uniformly at random.

    `better` other items score strictly higher than the best own one; the tie block holds
    `tied_other` other items and `tied_own` >= 1 own items at that score. The first
    m = k - better slots of the block are in the top k; the probability that none of them
    is an own item is C(tied_other, m) / C(tied_other + tied_own, m) (hypergeometric).
    """
    m = (k - better).clamp(min=0).double()
    t, c = tied_other.double(), tied_own.double()
    m_eff = torch.minimum(m, t + c)
    # log C(t, m) - log C(t + c, m); C(t, m) = 0 when m > t (then a hit is certain).
    log_none = (
        torch.lgamma(t + 1) - torch.lgamma(t - m_eff + 1)
        - torch.lgamma(t + c + 1) + torch.lgamma(t + c - m_eff + 1)
    )  # fmt: skip
    p_none = torch.where(m_eff > t, torch.zeros_like(t), log_none.exp())
    return torch.where(m <= 0, torch.zeros_like(t), 1.0 - p_none)


@torch.no_grad()
def retrieval_metrics(
    img_emb: Tensor, txt_emb: Tensor, txt2img: Tensor, ks: tuple[int, ...] = (1, 5, 10)
) -> dict[str, float]:
    """Recall in percent. An image counts as a TR@k hit if any of its captions ranks in its
    top k; a caption counts as an IR@k hit if its own image ranks in its top k.

    Ties count against the query: a tie is broken uniformly at random (recall is the
    expectation over that draw), so an own item tied with others gets no credit for the tie,
    and identical embeddings for everything score chance level (k / N), not 100.
    """
    img = torch.nn.functional.normalize(img_emb.float(), dim=-1)
    txt = torch.nn.functional.normalize(txt_emb.float(), dim=-1)
    sim = img @ txt.T  # [N_img, N_cap]
    n_img = sim.shape[0]
    own = txt2img.unsqueeze(0) == torch.arange(n_img, device=sim.device).unsqueeze(1)
    # Image -> text: the best own caption against the other images' captions.
    best = sim.masked_fill(~own, -torch.inf).max(dim=1, keepdim=True).values
    tr_better = ((sim > best) & ~own).sum(dim=1)
    tr_tied_other = ((sim == best) & ~own).sum(dim=1)
    tr_tied_own = ((sim == best) & own).sum(dim=1)
    # Text -> image: the caption's own image against all other images.
    cols = torch.arange(sim.shape[1], device=sim.device)
    s_t = sim.T  # [N_cap, N_img]
    own_score = s_t[cols, txt2img].unsqueeze(1)
    other = torch.ones_like(s_t, dtype=torch.bool)
    other[cols, txt2img] = False
    ir_better = ((s_t > own_score) & other).sum(dim=1)
    ir_tied_other = ((s_t == own_score) & other).sum(dim=1)
    ones = torch.ones_like(ir_better)
    out = {}
    for k in ks:
        out[f"tr@{k}"] = 100.0 * float(_hit_prob(tr_better, tr_tied_other, tr_tied_own, k).mean())
        out[f"ir@{k}"] = 100.0 * float(_hit_prob(ir_better, ir_tied_other, ones, k).mean())
    out["r_mean"] = sum(out.values()) / len(out)
    return out
