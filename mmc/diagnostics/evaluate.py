"""Evaluation and the per-epoch collapse diagnostics ("rank curves").

On a fixed held-out probe set: effective and numerical rank of each modality's embedding and
of the fused representation, each modality's contribution (the metric drop when that
modality is masked for every sample) and the task metrics with each modality masked
(`val_masked/<modality>/<metric>`, beside `val_probe/<metric>` with all modalities).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmc.data.batch import MultimodalTensors
from mmc.diagnostics.metrics import task_metrics
from mmc.diagnostics.rank import gram, gram_singular_values, side_by_side_grams, stats_of
from mmc.models.encoders import zero_missing
from mmc.models.model import MultimodalModel


@dataclass
class Predictions:
    logits: Tensor
    z: Tensor
    enc: dict[str, Tensor]  # encoder outputs (zeros where missing), before any remedy adapter
    split: MultimodalTensors

    def subset(self, idx: Tensor, split: MultimodalTensors | None = None) -> Predictions:
        """The rows `idx`; `split` is `self.split.subset(idx)` when the caller has it already
        (the probe's rows are the same every epoch)."""
        return Predictions(
            logits=self.logits[idx],
            z=self.z[idx],
            enc={m: e[idx] for m, e in self.enc.items()},
            split=self.split.subset(idx) if split is None else split,
        )


def autocast_ctx(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """`model.eval()` for the block, then `model.train(was)` as before it.

    Nothing is switched when no submodule is training (both calls would be no-ops): a switch
    walks every submodule, tens of microseconds even for a small model, and validation, the
    probe's masked passes and predict each asked for two per epoch.
    """
    if not any(m.training for m in model.modules()):
        yield
        return
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def _cat(parts: list[Tensor]) -> Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts)  # one batch: no copy


@torch.no_grad()
def predict(
    model: MultimodalModel,
    split: MultimodalTensors,
    batch_size: int = 2048,
    amp_dtype: torch.dtype | None = None,
) -> Predictions:
    device = next(model.parameters()).device
    logits, zs, encs = [], [], {m: [] for m in split.modalities}
    with eval_mode(model):
        for batch in split.iter_batches(batch_size):
            with autocast_ctx(device, amp_dtype):
                enc = model.encode(batch.x, batch.mask)
                out = model.fuse(enc, batch.mask, None)
            logits.append(out.logits.float())
            zs.append(out.z.float())
            for m in enc:
                encs[m].append(enc[m].float())
    return Predictions(
        logits=_cat(logits),
        z=_cat(zs),
        enc={m: _cat(v) for m, v in encs.items()},
        split=split,
    )


def labelled_metrics(logits: Tensor, split: MultimodalTensors, task: str) -> dict[str, float]:
    keep = split.labelled
    if bool(keep.all()):  # every row labelled (the usual case): the same values, no gather
        return task_metrics(logits, split.y, task)
    return task_metrics(logits[keep], split.y[keep], task)


@torch.no_grad()
def masked_metrics(
    model: MultimodalModel, pred: Predictions, task: str, modality: str
) -> dict[str, float]:
    """Task metrics with one modality masked for every sample (re-uses the encodings)."""
    with eval_mode(model):
        logits = _masked_logits(model, pred, modality)
    return labelled_metrics(logits, pred.split, task)


def _masked_logits(model: MultimodalModel, pred: Predictions, modality: str) -> Tensor:
    mask = dict(pred.split.mask)
    mask[modality] = torch.zeros_like(mask[modality])
    return model.fuse(zero_missing(pred.enc, mask), mask, None).logits.float()


def _stacked_masked_logits(model: MultimodalModel, pred: Predictions) -> dict[str, Tensor]:
    """The logits with each modality masked in turn, from one forward pass over the variants
    stacked along the batch (for a model whose rows are independent: the same rows as one pass
    per variant, with one call's overhead). The encodings are already zero where missing."""
    mods, n = list(pred.enc), len(pred.logits)
    enc = {
        m: torch.cat([torch.zeros_like(e) if v == m else e for v in mods])
        for m, e in pred.enc.items()
    }
    mask = {
        m: torch.cat([torch.zeros_like(k) if v == m else k for v in mods])
        for m, k in pred.split.mask.items()
    }
    logits = model.fuse(enc, mask, None).logits.float()
    return dict(zip(mods, logits.split(n)))


def _concat_grams(pred: Predictions) -> dict[str, Tensor] | None:
    """Gram matrices of each modality and of the fused representation in one go, when the fused
    representation is exactly the encodings side by side (concat fusion, no adapter) and every
    probe row observes every modality: the modalities' Gram matrices are then the fused one's
    diagonal blocks (see rank.side_by_side_grams). None otherwise (checked, not assumed)."""
    z, enc = pred.z, list(pred.enc.values())
    if z.ndim != 2 or any(e.ndim != 2 for e in enc) or not 2 <= z.shape[1] <= z.shape[0]:
        return None
    if not all(bool(pred.split.mask[m].all()) for m in pred.enc):
        return None
    if z.shape[1] != sum(e.shape[1] for e in enc):
        return None
    start = 0
    for e in enc:
        if not torch.equal(z[:, start : start + e.shape[1]], e):
            return None
        start += e.shape[1]
    blocks, fused = side_by_side_grams(enc)
    return {**dict(zip(pred.enc, blocks)), "fused": fused}


def _rank_diagnostics(pred: Predictions, rtol: float) -> dict[str, float]:
    """rank/<modality>/* over each modality's observed probe rows, and rank/fused/*."""
    n, masks = len(pred.z), pred.split.mask
    observed = {m: int(masks[m].sum()) for m in pred.enc}
    grams = _concat_grams(pred)
    if grams is None:
        grams = {
            m: gram(e if observed[m] == n else e[masks[m]])
            for m, e in pred.enc.items()
            if observed[m] >= 2
        }
        grams["fused"] = gram(pred.z)
    out: dict[str, float] = {}
    for who, g in grams.items():
        for k, v in stats_of(gram_singular_values(g), rtol).items():
            out[f"rank/{who}/{k}"] = v
    return out


def collapse_diagnostics(
    model: MultimodalModel,
    pred: Predictions,
    task: str,
    monitor: str,
    rtol: float,
    full: dict[str, float] | None = None,
) -> dict[str, float]:
    """Rank of each modality / the fused representation, and per-modality contribution.

    `full`: the task metrics of `pred` with all modalities, when the caller has them already
    (the probe is the whole validation split).
    """
    # The collapse curve: every task metric on the probe with all modalities and with each one
    # masked in turn (the gap between the two is what a collapsed model loses). The masked pass
    # re-uses the encodings, so it costs one fusion + head forward per modality. It runs first,
    # while the encodings and the head's weights are still in cache from the prediction; the
    # rank statistics' float64 copies would evict them.
    with torch.no_grad(), eval_mode(model):  # one switch for all the masked passes
        if model.rows_independent and len(pred.enc) > 1:
            logits = _stacked_masked_logits(model, pred)
        else:
            logits = {m: _masked_logits(model, pred, m) for m in pred.enc}
    out = _rank_diagnostics(pred, rtol)
    if full is None:
        full = labelled_metrics(pred.logits, pred.split, task)
    for k, v in full.items():
        out[f"val_probe/{k}"] = v
    masked = {m: labelled_metrics(v, pred.split, task) for m, v in logits.items()}
    for m in pred.enc:
        for k, v in masked[m].items():
            out[f"val_masked/{m}/{k}"] = v
        drop = full[monitor] - masked[m][monitor]
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
