"""Late-fusion ensemble of unimodal models: the reference that makes a collapse *harmful*.

Each modality gets an encoder + head trained on it alone (`train_alone`); on the test split
the ensemble sums the unimodal log-posteriors of the modalities a sample observes (a
product of experts: Bayes-optimal when the modalities are conditionally independent given
the label, as in `synthetic_theory`). A fused model with every modality present that scores
clearly below this ensemble fails to use predictive information it was given.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.diagnostics.evaluate import labelled_metrics, predict
from mmc.engine.unimodal import observed_rows


@torch.no_grad()
def unimodal_log_posteriors(model: nn.Module, split: MultimodalTensors, modality: str) -> Tensor:
    """[N, C] log-posteriors of a unimodal model; 0 rows where the modality is missing."""
    rows = observed_rows(split, modality)
    out = torch.zeros(len(split), 0)
    logits = predict(model, rows).logits if len(rows) else torch.zeros(0, 1)
    if logits.dim() == 1:  # binary: two-class log-posteriors
        logits = torch.stack([torch.zeros_like(logits), logits], dim=1)
    out = torch.zeros(len(split), logits.shape[1], device=logits.device)
    out[split.mask[modality]] = torch.log_softmax(logits, dim=1)
    return out


def ensemble_metrics(
    models: dict[str, nn.Module], split: MultimodalTensors, task: str
) -> dict[str, float]:
    """Task metrics of the product-of-experts ensemble over each sample's observed modalities."""
    total = sum(unimodal_log_posteriors(mod, split, m) for m, mod in models.items())
    if task == "binary":
        logits = total[:, 1] - total[:, 0]
    else:
        logits = total
    return labelled_metrics(logits, split, task)


def late_ensemble(
    data: MultimodalDataset, alone: dict[str, nn.Module], monitor: str
) -> dict[str, float]:
    """Ensemble test metric with all observed modalities, and each unimodal model's own."""
    out = {"ensemble": ensemble_metrics(alone, data.test, data.task).get(monitor, math.nan)}
    for m, model in alone.items():
        out[f"unimodal/{m}"] = ensemble_metrics({m: model}, data.test, data.task).get(
            monitor, math.nan
        )
    return out
