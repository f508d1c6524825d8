"""Grouped-weights forward pass of small models for mmc.batched_seeds.

`torch.func.vmap` over `functional_call` runs every op through functorch's batching layer; on
a CPU with a model of a few thousand parameters that per-op cost is as large as the arithmetic,
and five vmapped seeds take as long as five plain steps. For the models the claims harness
trains by the hundred (MLP encoders, concatenation fusion, an MLP head: the default experiment
and the unimodal references) the stacked forward is written out directly: every Linear is one
`baddbmm` over the seeds, everything else is elementwise or a concatenation on the last axis.
Anything else returns None from `grouped_losses` and the caller vmaps instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmc.backbones.concat import ConcatFusion
from mmc.models.encoders import MLPEncoder
from mmc.models.model import MultimodalModel


def _sequential_ok(seq: nn.Module) -> bool:
    return isinstance(seq, nn.Sequential) and all(
        isinstance(m, nn.Linear | nn.ReLU) or (isinstance(m, nn.Dropout) and m.p == 0) for m in seq
    )


def supports(model: nn.Module) -> bool:
    """True for MLP encoders + concatenation fusion + MLP head, no remedy adapter."""
    return (
        type(model) is MultimodalModel
        and not model._remedy_adapts
        and type(model.backbone) is ConcatFusion
        and all(type(e) is MLPEncoder and _sequential_ok(e.net) for e in model.encoders.values())
        and _sequential_ok(model.head)
    )


def _sequential(seq: nn.Sequential, prefix: str, p: dict[str, Tensor], h: Tensor) -> Tensor:
    for i, layer in enumerate(seq):
        if isinstance(layer, nn.Linear):
            w = p[f"{prefix}.{i}.weight"]  # [S, out, in]
            b = p.get(f"{prefix}.{i}.bias")
            h = (
                torch.bmm(h, w.transpose(1, 2))
                if b is None
                else torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
            )
        elif isinstance(layer, nn.ReLU):
            h = torch.relu(h)
    return h


def grouped_losses(
    model: MultimodalModel,
    p: dict[str, Tensor],
    x: dict[str, Tensor],
    mask: dict[str, Tensor],
    y: Tensor,
    labelled: Tensor,
    task: str,
    all_labelled: bool,
    full: dict[str, bool],
) -> dict[str, Tensor]:
    """{"task": [S]} per-seed task loss; x[m] is [S, B, ...], p holds stacked parameters."""
    embs = []
    for m, enc in model.encoders.items():
        h = x[m].flatten(2).float()
        h = _sequential(enc.net, f"encoders.{m}.net", p, h)
        if not full[m]:  # zero_missing: a missing modality's embedding is zero
            h = torch.where(mask[m].unsqueeze(-1), h, 0.0)
        embs.append(h)
    z = embs[0] if len(embs) == 1 else torch.cat(embs, dim=-1)
    logits = _sequential(model.head, "head", p, z)
    if logits.shape[-1] == 1:
        logits = logits.squeeze(-1)
    return {"task": _task_loss(logits.float(), y, labelled, task, all_labelled)}


def _task_loss(logits: Tensor, y: Tensor, labelled: Tensor, task: str, all_labelled: bool):
    """mmc.diagnostics.metrics.task_loss per seed (the seed axis first)."""
    if task == "binary":
        target = y.float() if all_labelled else y.float().nan_to_num(0.0).clamp(0, 1)
        per_row = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        target = y if all_labelled else y.long().clamp_min(0)
        per_row = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    if all_labelled:
        return per_row.mean(1)
    weight = labelled.float()
    return (per_row * weight).sum(1) / weight.sum(1).clamp_min(1.0)
