"""Retrieval recall: TR@k (image -> text) and IR@k (text -> image)."""

from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def retrieval_metrics(
    img_emb: Tensor, txt_emb: Tensor, txt2img: Tensor, ks: tuple[int, ...] = (1, 5, 10)
) -> dict[str, float]:
    """Recall in percent. An image counts as a TR@k hit if any of its captions ranks in its
    top k; a caption counts as an IR@k hit if its own image ranks in its top k."""
    img = torch.nn.functional.normalize(img_emb.float(), dim=-1)
    txt = torch.nn.functional.normalize(txt_emb.float(), dim=-1)
    sim = img @ txt.T  # [N_img, N_cap]
    n_img = sim.shape[0]
    # Rank of the best-ranked own caption: 1 + number of captions scoring strictly higher.
    own = txt2img.unsqueeze(0) == torch.arange(n_img, device=sim.device).unsqueeze(1)
    best_own = sim.masked_fill(~own, -torch.inf).max(dim=1).values
    tr_rank = (sim > best_own.unsqueeze(1)).sum(dim=1)
    # Text -> image: rank of the caption's own image among all images.
    own_score = sim[txt2img, torch.arange(sim.shape[1], device=sim.device)]
    ir_rank = (own_score.unsqueeze(1) < sim.T).sum(dim=1)
    out = {}
    for k in ks:
        out[f"tr@{k}"] = 100.0 * float((tr_rank < k).float().mean())
        out[f"ir@{k}"] = 100.0 * float((ir_rank < k).float().mean())
    out["r_mean"] = sum(out.values()) / len(out)
    return out
