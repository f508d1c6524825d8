"""Task metrics from logits: accuracy for multi-class, AUC-ROC and AUC-PR for binary."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor

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


def task_loss(logits: Tensor, y: Tensor, labelled: Tensor, task: str) -> Tensor:
    """Mean supervised loss over labelled rows; unlabelled rows contribute nothing.

    Weighted rather than indexed: no host sync and no gather on every step.
    """
    weight = labelled.to(logits.dtype if logits.is_floating_point() else torch.float32)
    if task == "binary":
        per_row = torch.nn.functional.binary_cross_entropy_with_logits(
            logits.float(), y.float().nan_to_num(0.0).clamp(0, 1), reduction="none"
        )
    else:
        per_row = torch.nn.functional.cross_entropy(
            logits.float(), y.long().clamp_min(0), reduction="none"
        )
    return (per_row * weight.float()).sum() / weight.float().sum().clamp_min(1.0)
