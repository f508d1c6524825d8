"""The training loop: one `train_epoch` over a split and one `fit` over epochs.

Every model in the package that trains by epochs against a validation score goes through
`fit`: the fused model (classification runner), unimodal references, KD teachers, the
semantic probe's encoders and the retrieval dual encoder.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from mmc.data.batch import MultimodalTensors
from mmc.diagnostics.evaluate import autocast_ctx
from mmc.diagnostics.metrics import task_loss
from mmc.engine.model import device_of
from mmc.engine.seed_group import has_losses, seed_group_epoch
from mmc.errors import MmcError
from mmc.models.model import MultimodalModel
from mmc.utils.seed import epoch_generator


def train_epoch(
    model: MultimodalModel,
    split: MultimodalTensors,
    opt: torch.optim.Optimizer,
    cfg: DictConfig,
    task: str,
    epoch: int,
    amp_dtype: torch.dtype | None,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, float]:
    """One pass over the training split; returns the mean of each loss term."""
    # Under `seeds=[...]` the epoch runs for every seed at once (mmc/engine/seed_group.py).
    grouped = seed_group_epoch(train_epoch, model, split, opt, cfg, task, epoch, amp_dtype, scaler)
    if grouped is not None:
        return grouped
    model.train()
    # Every row labelled (the usual case): the plain fused cross-entropy, no weighting.
    all_labelled = bool(split.labelled.all())
    # Per step only the detached terms are kept; they are stacked and summed once per epoch
    # (per-step stacks and adds were a measurable share of a small model's step).
    kept: dict[tuple[str, ...], list[torch.Tensor]] = defaultdict(list)
    steps = 0
    # Config reads and the device lookup hoisted out of the step: each costs microseconds of
    # OmegaConf or module traversal, which adds up over thousands of ~1 ms steps.
    batch_size, grad_clip = cfg.train.batch_size, cfg.train.grad_clip
    autocast = autocast_ctx(device_of(model), amp_dtype)
    remedy = model.remedy if model.remedy is not None and has_losses(model.remedy) else None
    gen = epoch_generator(cfg.seed, epoch)
    for batch in split.iter_batches(batch_size, shuffle=True, generator=gen):
        with autocast:
            out = model(batch)
            losses = {"task": task_loss(out.logits, batch.y, batch.labelled, task, all_labelled)}
            losses.update(out.losses)
            if remedy is not None:
                losses.update(remedy.losses(out, batch, epoch))
            terms = list(losses.values())
            loss = terms[0] if len(terms) == 1 else torch.stack(terms).sum()
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        step_terms = torch.stack([*terms, loss]).detach() if len(terms) > 1 else loss.detach()
        kept[(*losses, "total")].append(step_terms)
        steps += 1
    # A single term is its own total: one scalar per step, counted under both names.
    sums = {
        names: torch.stack(values).float().sum(0).expand(len(names))
        for names, values in kept.items()
    }
    totals: dict[str, float] = defaultdict(float)
    for names, values in sums.items():
        for name, value in zip(names, values.tolist()):
            totals[name] += value
    means = {f"loss/{k}": v / max(steps, 1) for k, v in totals.items()}
    check_finite(means.get("loss/total", 0.0), epoch, cfg.train.lr)
    return means


def check_finite(loss: float, epoch: int, lr: float) -> None:
    if not math.isfinite(loss):
        raise MmcError(
            f"training diverged: the loss became {loss} in epoch {epoch}; "
            f"lower train.lr (now {lr}) or set train.grad_clip"
        )


@dataclass
class Best:
    """The best validation epoch so far and a copy of the model's state then."""

    score: float = -math.inf
    epoch: int = -1
    val: dict = field(default_factory=dict)
    state: dict[str, Tensor] = field(default_factory=dict)
    epochs_run: int = 0  # epochs this fit ran (fewer than asked when it stopped early)

    def summary(self) -> dict:
        """What checkpoints and summaries record (the state is saved on its own)."""
        return {"score": self.score, "epoch": self.epoch, "val": self.val}


# One epoch of training and validation: (record to log, validation metrics, score to maximise).
EpochFn = Callable[[int], tuple[dict, dict, float]]


def fit(
    model: nn.Module,
    epochs: Iterable[int],
    run_epoch: EpochFn,
    *,
    best: Best | None = None,
    later_ties: bool = True,
    patience: int | None = None,
    min_epochs: int = 0,
    after_epoch: Callable[[int, dict, Best], None] | None = None,
) -> Best:
    """Run `run_epoch` for each epoch, keeping the state of the best validation score.

    A NaN score counts as -inf; the first epoch is always kept. `later_ties`: an epoch that
    equals the best so far replaces it (collapse deepens with training, so the fused model
    keeps the latest); otherwise the earliest is kept. `patience`: stop once that many
    epochs passed without a new best (early stopping), but never before `min_epochs` epochs
    ran (a warm-up: a model that sits on a plateau before it starts to learn, e.g. a weak
    modality whose high-variance noise dominates the first epochs, is not cut off there).
    `after_epoch(epoch, record, best)`
    runs after the best is updated (checkpoints, logging).
    """
    best = best if best is not None else Best()
    for epoch in epochs:
        record, val, score = run_epoch(epoch)
        score = -math.inf if math.isnan(score) else score
        if score > best.score or (later_ties and score == best.score) or best.epoch < 0:
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best = Best(score, epoch, val, state, best.epochs_run)
        best.epochs_run += 1
        if after_epoch is not None:
            after_epoch(epoch, record, best)
        if (
            patience is not None
            and best.epochs_run >= min_epochs
            and epoch - best.epoch >= patience
        ):
            break
    return best
