"""Evaluation and the per-epoch collapse diagnostics ("rank curves").

On a fixed held-out probe set: effective and numerical rank of each modality's embedding and
of the fused representation, each modality's contribution (the metric drop when that
modality is masked for every sample) and the task metrics with each modality masked
(`val_masked/<modality>/<metric>`, beside `val_probe/<metric>` with all modalities).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from mmc.data.batch import MultimodalTensors
from mmc.diagnostics.metrics import task_metrics
from mmc.diagnostics.rank import rank_stats
from mmc.models.encoders import zero_missing
from mmc.models.model import MultimodalModel


@dataclass
class Predictions:
    logits: Tensor
    z: Tensor
    enc: dict[str, Tensor]  # encoder outputs (zeros where missing), before any remedy adapter
    split: MultimodalTensors

    def subset(self, idx: Tensor) -> Predictions:
        return Predictions(
            logits=self.logits[idx],
            z=self.z[idx],
            enc={m: e[idx] for m, e in self.enc.items()},
            split=self.split.subset(idx),
        )


def autocast_ctx(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def predict(
    model: MultimodalModel,
    split: MultimodalTensors,
    batch_size: int = 2048,
    amp_dtype: torch.dtype | None = None,
) -> Predictions:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits, zs, encs = [], [], {m: [] for m in split.modalities}
    for batch in split.iter_batches(batch_size):
        with autocast_ctx(device, amp_dtype):
            enc = model.encode(batch.x, batch.mask)
            out = model.fuse(enc, batch.mask, None)
        logits.append(out.logits.float())
        zs.append(out.z.float())
        for m in enc:
            encs[m].append(enc[m].float())
    model.train(was_training)
    return Predictions(
        logits=torch.cat(logits),
        z=torch.cat(zs),
        enc={m: torch.cat(v) for m, v in encs.items()},
        split=split,
    )


def labelled_metrics(logits: Tensor, split: MultimodalTensors, task: str) -> dict[str, float]:
    keep = split.labelled
    return task_metrics(logits[keep], split.y[keep], task)


@torch.no_grad()
def masked_metrics(
    model: MultimodalModel, pred: Predictions, task: str, modality: str
) -> dict[str, float]:
    """Task metrics with one modality masked for every sample (re-uses the encodings)."""
    was_training = model.training
    model.eval()
    mask = dict(pred.split.mask)
    mask[modality] = torch.zeros_like(mask[modality])
    enc = zero_missing(pred.enc, mask)
    out = model.fuse(enc, mask, None)
    model.train(was_training)
    return labelled_metrics(out.logits.float(), pred.split, task)


def collapse_diagnostics(
    model: MultimodalModel, pred: Predictions, task: str, monitor: str, rtol: float
) -> dict[str, float]:
    """Rank of each modality / the fused representation, and per-modality contribution."""
    out: dict[str, float] = {}
    for m, e in pred.enc.items():
        observed = pred.split.mask[m]
        if int(observed.sum()) >= 2:
            for k, v in rank_stats(e[observed], rtol).items():
                out[f"rank/{m}/{k}"] = v
    for k, v in rank_stats(pred.z, rtol).items():
        out[f"rank/fused/{k}"] = v
    # The collapse curve: every task metric on the probe with all modalities and with each one
    # masked in turn (the gap between the two is what a collapsed model loses). The masked pass
    # re-uses the encodings, so it costs one fusion + head forward per modality.
    full = labelled_metrics(pred.logits, pred.split, task)
    for k, v in full.items():
        out[f"val_probe/{k}"] = v
    for m in pred.enc:
        masked = masked_metrics(model, pred, task, m)
        for k, v in masked.items():
            out[f"val_masked/{m}/{k}"] = v
        drop = full[monitor] - masked[monitor]
        out[f"contribution/{m}"] = drop if not math.isnan(full[monitor]) else math.nan
    return out


def strongest_weakest(record: dict, modalities: list[str]) -> dict[str, str]:
    """The modality whose masking costs the most (strongest) and the least (weakest), from a
    diagnostics record's `contribution/<m>`; empty when fewer than two are measured."""
    scores = {m: record.get(f"contribution/{m}", math.nan) for m in modalities}
    scores = {m: s for m, s in scores.items() if s is not None and not math.isnan(s)}
    if len(scores) < 2:
        return {}
    return {"strongest": max(scores, key=scores.get), "weakest": min(scores, key=scores.get)}
