"""Task metrics from logits: accuracy for multi-class, AUC-ROC and AUC-PR for binary."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor
from torch.nn import functional as F

from mmc.errors import ConfigError

METRICS = {"binary": ("auroc", "auprc", "accuracy"), "multiclass": ("accuracy",)}


def default_monitor(task: str) -> str:
    return "auroc" if task == "binary" else "accuracy"


def check_monitor(monitor: str, task: str) -> str:
    name = default_monitor(task) if monitor == "auto" else monitor
    if name not in METRICS[task]:
        raise ConfigError(
            f"train.monitor={monitor!r} is not a {task} metric; use auto or one of: "
            f"{', '.join(METRICS[task])}"
        )
    return name


def task_metrics(logits: Tensor, y: Tensor, task: str) -> dict[str, float]:
    """Metrics over labelled rows. AUCs are NaN when only one class is present."""
    if len(y) == 0:
        return {name: math.nan for name in METRICS[task]}
    if task == "binary":
        prob = torch.sigmoid(logits.float()).cpu().numpy()
        truth = y.cpu().numpy().astype(int)
        out = {"accuracy": float(((prob > 0.5) == truth).mean())}
        if len(np.unique(truth)) < 2:
            out.update(auroc=math.nan, auprc=math.nan)
        else:
            out.update(
                auroc=float(roc_auc_score(truth, prob)),
                auprc=float(average_precision_score(truth, prob)),
            )
        return out
    return {"accuracy": float((logits.argmax(-1) == y).float().mean())}


def task_loss(
    logits: Tensor, y: Tensor, labelled: Tensor, task: str, all_labelled: bool = False
) -> Tensor:
    """Mean supervised loss over labelled rows; unlabelled rows contribute nothing.

    Weighted rather than indexed (no host sync, no gather); `all_labelled` skips the weights.
    """
    binary = task == "binary"
    if all_labelled:
        if binary:
            return F.binary_cross_entropy_with_logits(logits.float(), y.float())
        return F.cross_entropy(logits.float(), y)
    if binary:
        target = y.float().nan_to_num(0.0).clamp(0, 1)
        per_row = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    else:
        per_row = F.cross_entropy(logits.float(), y.long().clamp_min(0), reduction="none")
    weight = labelled.float()
    return (per_row * weight).sum() / weight.sum().clamp_min(1.0)
