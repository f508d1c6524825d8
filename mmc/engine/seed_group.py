"""The seed group behind `mmc train seeds=[...]` (mmc/batched_seeds.py starts it).

Each seed runs the ordinary training lifecycle in its own thread; `train_epoch` first asks
`seed_group_epoch` whether it is part of a group. If so, the seeds meet there and one epoch
runs for all of them at once (`batched_epoch`): parameters stacked along a new leading axis
(`torch.func.stack_module_state`), the forward pass written with grouped weights
(mmc/engine/grouped_forward.py) or `torch.func.vmap`-ed, one backward and one optimiser step
on the stacked parameters. See mmc/batched_seeds.py for why the numbers match separate runs.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from mmc.data.batch import Batch
from mmc.diagnostics.metrics import task_loss
from mmc.engine import grouped_forward as grouped
from mmc.errors import MmcError
from mmc.remedies.base import Remedy
from mmc.utils.seed import epoch_generator, rng_state, set_rng_state

log = logging.getLogger("mmc")
_local = threading.local()


@dataclass
class _Request:
    epoch_fn: Callable
    args: tuple
    kwargs: dict
    rng: dict
    result: dict | None = None
    error: BaseException | None = None


@dataclass
class Group:
    """Turnstile over the seeds' threads: exactly one runs at a time, in a fixed cyclic order."""

    n: int
    cv: threading.Condition = field(default_factory=threading.Condition)
    active: list[int] = field(default_factory=list)
    current: int = 0
    pending: dict[int, _Request] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)  # each fallback reason is logged once

    def __post_init__(self) -> None:
        self.active = list(range(self.n))

    def _pass_turn(self, me: int) -> None:
        if self.active:
            later = [i for i in self.active if i > me]
            self.current = later[0] if later else self.active[0]
        self.cv.notify_all()

    def wait_turn(self, me: int) -> None:
        with self.cv:
            self.cv.wait_for(lambda: self.current == me)

    def submit(self, me: int, epoch_fn: Callable, args: tuple, kwargs: dict) -> dict:
        req = _Request(epoch_fn, args, kwargs, rng_state())
        with self.cv:
            self.pending[me] = req
            if set(self.pending) == set(self.active):
                self._run_round_here()
            else:
                self._pass_turn(me)
                self.cv.wait_for(lambda: self.current == me)
        set_rng_state(req.rng)
        if req.error is not None:
            raise req.error
        return req.result

    def leave(self, me: int) -> None:
        with self.cv:
            self.active.remove(me)
            if self.active and set(self.pending) == set(self.active):
                self._run_round_here()
            self._pass_turn(me)

    def _run_round_here(self) -> None:
        _local.in_round = True
        try:
            self._run_round()
        finally:
            _local.in_round = False

    def _run_round(self) -> None:
        reqs = [self.pending[i] for i in sorted(self.pending)]
        self.pending = {}
        # Seeds that can share one batched epoch go together: one seed whose early-stopped
        # reference moved on to the next modality must not send all the others seed by seed.
        clusters: list[list[_Request]] = []
        for req in reqs:
            home = next((c for c in clusters if _why_not_batched([c[0], req]) is None), None)
            if home is None:
                clusters.append([req])
            else:
                home.append(req)
        if len(reqs) > len(clusters) > 1:
            self._note(f"{len(clusters)} groups of seeds ({_why_not_batched(reqs)})", "partly ")
        elif len(clusters) == len(reqs) > 1:
            self._note(str(_why_not_batched(reqs)))
        for cluster in clusters:
            self._run_cluster(cluster)

    def _note(self, reason: str, how: str = "") -> None:
        if reason not in self.warned:
            self.warned.add(reason)
            log.info("batched seeds: epochs run %sseed by seed: %s", how, reason)

    def _run_cluster(self, reqs: list[_Request]) -> None:
        reason = _why_not_batched(reqs)
        if reason is None:
            try:
                results = batched_epoch(reqs)
            except _NotVmappable as e:
                reason = f"the forward pass cannot be vmapped ({e})"
            except Exception as e:  # noqa: BLE001 (every seed of the round sees it)
                results = [e] * len(reqs)
            if reason is None:
                for req, res in zip(reqs, results):
                    if isinstance(res, BaseException):
                        req.error = res
                    else:
                        req.result = res
                return
        if len(reqs) > 1:
            self._note(reason)
        for req in reqs:  # seed by seed, each with its own RNG stream
            set_rng_state(req.rng)
            try:
                req.result = req.epoch_fn(*req.args, **req.kwargs)
            except Exception as e:  # noqa: BLE001 (handed to that seed's own thread)
                req.error = e
            req.rng = rng_state()


class _NotVmappable(Exception):
    pass


def seed_group_epoch(epoch_fn: Callable, *args, **kwargs) -> dict | None:
    """Called first thing by `train_epoch` (passing itself): inside a seed group, hand the
    epoch to the group (it returns this seed's loss means once every seed's epoch has run);
    None otherwise, and None while the group itself runs epochs seed by seed."""
    group: Group | None = getattr(_local, "group", None)
    if group is None or getattr(_local, "in_round", False):
        return None
    return group.submit(_local.me, epoch_fn, args, kwargs)


def has_losses(remedy: Remedy) -> bool:
    """The remedy adds terms to the training loss (the base class adds none)."""
    return type(remedy).losses is not Remedy.losses


def enter_group(group: Group, me: int) -> None:
    """Make the calling thread seed `me` of `group` (then wait for its turn)."""
    _local.group, _local.me = group, me
    group.wait_turn(me)


# ------------------------------------------------------------------------ one batched epoch
def _unpack(req: _Request) -> tuple:
    names = ("model", "split", "opt", "cfg", "task", "epoch", "amp_dtype", "scaler")
    values = dict(zip(names, req.args))
    values.update(req.kwargs)
    values.setdefault("amp_dtype", None)
    values.setdefault("scaler", None)
    return tuple(values[n] for n in names)


def _why_not_batched(reqs: list[_Request]) -> str | None:
    if len(reqs) < 2:
        return "a single seed is left"
    first = _unpack(reqs[0])
    shapes0 = [(k, v.shape) for k, v in first[0].named_parameters()]
    group0 = {k: v for k, v in first[2].param_groups[0].items() if k != "params"}
    for req in reqs:
        model, split, opt, cfg, task, _, amp_dtype, scaler = _unpack(req)
        if amp_dtype is not None or scaler is not None:
            return "mixed precision"
        if (
            type(model) is not type(first[0])
            or [(k, v.shape) for k, v in model.named_parameters()] != shapes0
        ):
            return "the seeds' models differ in architecture"
        if len(split) != len(first[1]) or cfg.train.batch_size != first[3].train.batch_size:
            return "the seeds' training sets differ in size"
        if task != first[4] or cfg.train.grad_clip != first[3].train.grad_clip:
            return "the seeds' training settings differ"
        if type(opt) is not type(first[2]) or len(opt.param_groups) != 1:
            return "the seeds' optimisers differ"
        # One seed may have moved on to a fresh model (an early-stopped unimodal reference)
        # while another is mid-run: their states cannot be stacked, and one shared Adam step
        # count would give the others the wrong bias correction.
        if _state_signature(opt) != _state_signature(first[2]):
            return "the seeds' optimisers are at different steps"
        group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
        if group != group0:
            return "the seeds' optimiser settings (e.g. learning rate) differ"
        if type(opt) not in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
            return f"optimiser {type(opt).__name__} is not known to update elementwise"
        if group0.get("amsgrad") or group0.get("nesterov"):
            return "amsgrad/nesterov"
        remedy = getattr(model, "remedy", None)
        if remedy is not None and (
            type(remedy).losses is not Remedy.losses or type(remedy).adapt is not Remedy.adapt
        ):
            return f"remedy {type(remedy).__name__} adds its own terms to the training step"
        if any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()):
            return "dropout draws random numbers in every step"
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            return "batch norm updates running statistics in place"
    return None


def _state_signature(opt: torch.optim.Optimizer) -> list[tuple]:
    """Per parameter: which state it holds and its step count."""
    out = []
    for p in opt.param_groups[0]["params"]:
        state = opt.state.get(p, {})
        step = state.get("step")
        out.append((tuple(sorted(state)), None if step is None else float(step)))
    return out


def _stacked_split(splits: list, key: str) -> dict[str, Tensor]:
    return {m: torch.stack([getattr(s, key)[m] for s in splits]) for m in splits[0].modalities}


def _stack_state(opts: list[torch.optim.Optimizer], stacked: list[Tensor], new_opt) -> None:
    """The seeds' optimiser state (empty on the first epoch), stacked onto `new_opt`."""
    per_seed = [list(opt.param_groups[0]["params"]) for opt in opts]
    for j, p in enumerate(stacked):
        states = [opts[i].state.get(per_seed[i][j], {}) for i in range(len(opts))]
        if not states[0]:
            continue
        new_opt.state[p] = {
            k: (torch.stack([s[k] for s in states]) if v.dim() > 0 else v.clone())
            if torch.is_tensor(v)
            else v
            for k, v in states[0].items()
        }


def _write_back(models, opts, names, stacked, new_opt) -> None:
    with torch.no_grad():
        for i, model in enumerate(models):
            own = dict(model.named_parameters())
            for name, p in zip(names, stacked):
                own[name].copy_(p[i])
    for i, opt in enumerate(opts):
        params = list(opt.param_groups[0]["params"])
        for j, p in enumerate(stacked):
            state = new_opt.state.get(p)
            if state:
                opt.state[params[j]] = {
                    k: (v[i].clone() if v.dim() > 0 else v.clone()) if torch.is_tensor(v) else v
                    for k, v in state.items()
                }


def batched_epoch(reqs: list[_Request]) -> list[dict | BaseException]:
    """One training epoch for every seed at once; per-seed loss means as train_epoch returns."""
    unpacked = [_unpack(r) for r in reqs]
    models = [u[0] for u in unpacked]
    splits = [u[1] for u in unpacked]
    opts = [u[2] for u in unpacked]
    cfg, task = unpacked[0][3], unpacked[0][4]
    n_seeds = len(reqs)
    for model in models:
        model.train()
    template = models[0]
    # The optimiser holds the trainable parameters; frozen ones ride along as constants.
    trainable = {id(p) for p in opts[0].param_groups[0]["params"]}
    names = [k for k, p in template.named_parameters() if id(p) in trainable]
    params, buffers = stack_module_state(models)
    frozen = {k: v for k, v in params.items() if k not in names}
    stacked = [params[k].detach().requires_grad_() for k in names]
    opt = type(opts[0])(stacked, lr=opts[0].param_groups[0]["lr"])
    opt.param_groups[0].update({k: v for k, v in opts[0].param_groups[0].items() if k != "params"})
    _stack_state(opts, stacked, opt)

    x, mask = _stacked_split(splits, "x"), _stacked_split(splits, "mask")
    y = torch.stack([s.y for s in splits])
    labelled = torch.stack([s.labelled for s in splits])
    all_labelled = bool(labelled.all())
    seeds_axis = torch.arange(n_seeds).unsqueeze(1)
    batch_size, grad_clip = cfg.train.batch_size, cfg.train.grad_clip
    orders = torch.stack(
        [torch.randperm(len(s), generator=epoch_generator(u[3].seed, u[5])) for s, u in
         zip(splits, unpacked)]
    )  # fmt: skip

    def one_seed(p, b, xb, mb, yb, lb):
        batch = Batch(x=xb, mask=mb, y=yb, labelled=lb)
        out = functional_call(template, {**p, **b}, (batch,))
        losses = {"task": task_loss(out.logits, yb, lb, task, all_labelled)}
        losses.update(out.losses)
        return losses

    if grouped.supports(template):
        full = {m: bool(t.all()) for m, t in mask.items()}

        def step(p, b, xb, mb, yb, lb):
            return grouped.grouped_losses(template, p, xb, mb, yb, lb, task, all_labelled, full)
    else:
        step = vmap(one_seed)
    kept: dict[tuple[str, ...], list[Tensor]] = {}
    for start in range(0, orders.shape[1], batch_size):
        idx = orders[:, start : start + batch_size]
        rows = (seeds_axis, idx)
        xb = {m: t[rows] for m, t in x.items()}
        mb = {m: t[rows] for m, t in mask.items()}
        p = {**frozen, **dict(zip(names, stacked))}
        try:
            losses = step(p, buffers, xb, mb, y[rows], labelled[rows])
        except RuntimeError as e:
            if start == 0:  # nothing stepped yet: fall back to seed-by-seed epochs
                raise _NotVmappable(str(e).splitlines()[0][:120]) from e
            raise
        terms = torch.stack(list(losses.values()), dim=1)  # [seeds, terms]
        total = terms.sum(1)
        opt.zero_grad(set_to_none=True)
        total.sum().backward()
        if grad_clip:
            _clip_per_seed(stacked, grad_clip)
        opt.step()
        key = (*losses, "total")
        kept.setdefault(key, []).append(torch.cat([terms, total[:, None]], 1).detach())
    _write_back(models, opts, names, stacked, opt)

    results: list[dict | BaseException] = []
    steps = sum(len(v) for v in kept.values())
    for i, u in enumerate(unpacked):
        totals: dict[str, float] = {}
        for key, values in kept.items():
            for name, value in zip(key, torch.stack(values)[:, i].float().sum(0).tolist()):
                totals[name] = totals.get(name, 0.0) + value
        means = {f"loss/{k}": v / max(steps, 1) for k, v in totals.items()}
        if not math.isfinite(means.get("loss/total", 0.0)):
            results.append(
                MmcError(
                    f"training diverged: the loss became {means['loss/total']} in epoch {u[5]}; "
                    f"lower train.lr (now {u[3].train.lr}) or set train.grad_clip"
                )
            )
        else:
            results.append(means)
    return results


def _clip_per_seed(stacked: list[Tensor], max_norm: float) -> None:
    """clip_grad_norm_ applied to each seed's slice on its own."""
    grads = [p.grad for p in stacked if p.grad is not None]
    if not grads:
        return
    norms = torch.stack([g.reshape(g.shape[0], -1).norm(dim=1) for g in grads]).norm(dim=0)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))
