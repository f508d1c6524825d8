"""Every missingness pattern at test time (collapse paper Table 6: 15 patterns of 4 modalities).

Each non-empty subset S of the modalities is evaluated by masking every modality outside S
(on top of what is already missing), re-using the test encodings; rows left with nothing
observed are scored out. The mean and std over patterns summarise robustness.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from mmc.diagnostics.evaluate import Predictions, labelled_metrics
from mmc.errors import check
from mmc.models.encoders import zero_missing

MAX_MODALITIES = 6  # 63 patterns; beyond that enumeration stops being a diagnostic


def all_patterns(modalities: list[str]) -> list[tuple[str, ...]]:
    return [s for k in range(1, len(modalities) + 1) for s in itertools.combinations(modalities, k)]


@torch.no_grad()
def pattern_metrics(model, pred: Predictions, task: str, monitor: str) -> dict:
    mods = list(pred.enc)
    check(
        len(mods) <= MAX_MODALITIES,
        f"diagnostics.extra=patterns enumerates 2^M-1 patterns; {len(mods)} modalities is too many (at most {MAX_MODALITIES})",
    )
    was = model.training
    model.eval()
    per: dict[str, dict[str, float]] = {}
    for subset in all_patterns(mods):
        mask = {m: pred.split.mask[m] & (m in subset) for m in mods}
        rows = torch.stack(list(mask.values()), dim=1).any(dim=1)
        out = model.fuse(zero_missing(pred.enc, mask), mask, None)
        split = pred.split.subset(rows.nonzero(as_tuple=True)[0])
        per["+".join(subset)] = labelled_metrics(out.logits.float()[rows], split, task)
    model.train(was)
    scores = np.array([r[monitor] for r in per.values()], dtype=float)
    scores = scores[~np.isnan(scores)]
    return {
        "metric": monitor,
        "mean": float(scores.mean()) if len(scores) else math.nan,
        "std": float(scores.std()) if len(scores) else math.nan,
        "per_pattern": per,
    }
