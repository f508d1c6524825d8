"""Multimodal dataset distillation by trajectory matching: LoRS, and RepBlend's two parts.

One iteration: pick an expert and a start epoch s; from the expert's θ_s take `syn_steps`
SGD steps on synthetic mini-batches with learnable step sizes; the loss is the normalised
distance ‖θ_T − θ_{s+E}‖² / ‖θ_s − θ_{s+E}‖² to the expert's later snapshot.

- memory-constant gradient (TESLA): a first pass runs the inner steps without a graph to get
  θ_T; a second pass replays them one at a time, each building only its own step's graph
  and back-propagating v·g_t with v = ∂L/∂θ_T. Memory does not grow with syn_steps (the
  Hessian terms through later steps are dropped, as in TESLA).
- soft similarity (LoRS): S = diag(a) + (α/r)·L·Rᵀ, R = 0 at start; the inner loss is a
  weighted BCE between sigmoid(logits) and S[batch, batch].
- representation blending (RepBlend): each inner step mixes the mini-batch with a shuffled
  copy of itself, λ ~ Beta(α, α), the same λ and permutation for both modalities; S is not
  mixed.
- matching-loss bookkeeping (`branches`, as the reference code): a step size per branch
  (image side, text head) always; the synthetic data's gradient comes from the sum of the
  two normalised terms ("per_branch", Flickr) or from one term Σ‖θ_T − θ*‖² / Σ‖θ_s − θ*‖²
  over both branches ("merged", `--merge_loss_branches` on COCO); each step size's gradient
  comes from its own branch's term in both cases. "joint" (one term and one step size over
  everything) is mmc's former approximation, kept for comparison only.
- symmetric projection matching (RepBlend) vs LoRS is about *what* the image side trains:
  RepBlend freezes the image encoder and matches the image head's trajectory; LoRS matches
  the full image encoder's. With frozen features (feature space) the two coincide; in pixel
  space `symmetric=false` puts the trainable encoder in the experts and the inner loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from mmc.errors import ConfigError, DataError, check
from mmc.logging.progress import Progress
from mmc.retrieval.model import DualEncoder, contrastive_loss, soft_bce_loss
from mmc.retrieval.trajectories import ExpertBank


@dataclass
class DistillSettings:
    iterations: int = 3000
    syn_steps: int = 8
    batch_syn: int = 20
    max_start_epoch: int = 2  # start epochs drawn from [0, max_start_epoch)
    expert_epochs: int = 1  # match θ_{s+expert_epochs}
    lr_img: float = 100.0
    lr_txt: float = 100.0
    lr_lr: float = 1e-2
    lr_sim: float = 10.0
    momentum: float = 0.5
    syn_lr_init: float = 0.1
    similarity: str = "lowrank"  # lowrank | none
    sim_rank: int = 10
    sim_alpha: float = 3.0
    branches: str = "per_branch"  # per_branch | merged | joint
    blend: bool = True
    blend_alpha: float = 1.0
    symmetric: bool = True
    log_every: int = 10

    def check(self) -> None:
        check(self.iterations >= 0, f"remedy.iterations={self.iterations} must be >= 0")
        check(self.syn_steps >= 1, f"remedy.syn_steps={self.syn_steps} must be at least 1")
        check(self.batch_syn >= 2, f"remedy.batch_syn={self.batch_syn} must be at least 2")
        check(self.expert_epochs >= 1, f"remedy.expert_epochs={self.expert_epochs} must be >= 1")
        check(
            self.max_start_epoch >= 1,
            f"remedy.max_start_epoch={self.max_start_epoch} must be >= 1 "
            "(start epochs are drawn from [0, max_start_epoch))",
        )
        if self.branches not in BRANCHES:
            raise ConfigError(
                f"remedy.branches={self.branches!r} is not valid; use one of: {', '.join(BRANCHES)}"
            )
        check(self.blend_alpha > 0, f"remedy.blend_alpha={self.blend_alpha} must be > 0")
        if self.similarity not in ("lowrank", "none"):
            raise ConfigError(
                f"remedy.similarity={self.similarity!r} is not valid; use lowrank or none"
            )


BRANCHES = ("per_branch", "merged", "joint")
# Learned step sizes are clamped here after each update (the reference has no clamp; see
# docs/retrieval.md). A step size at the floor means its gradient overshot past zero.
STEP_SIZE_FLOOR = 1e-6


def at_step_size_floor(value: float) -> bool:
    """A step size at the floor (within float32 rounding of the clamp)."""
    return float(value) <= STEP_SIZE_FLOOR * (1 + 1e-3)


class LowRankSimilarity(nn.Module):
    """S = diag(a) + (alpha/r)·L·Rᵀ over the N synthetic pairs; the identity at start
    (a = 1, L ~ N(0, 1), R = 0, as LoRS's LowRankSimilarityGenerator)."""

    def __init__(self, n: int, rank: int, alpha: float, generator: torch.Generator) -> None:
        super().__init__()
        rank = max(1, min(rank, n))
        self.diag = nn.Parameter(torch.ones(n))
        self.left = nn.Parameter(torch.randn(n, rank, generator=generator))
        self.right = nn.Parameter(torch.zeros(n, rank))
        self.scale = alpha / rank

    def forward(self, idx: Tensor | None = None) -> Tensor:
        d, left, right = self.diag, self.left, self.right
        if idx is not None:
            d, left, right = d[idx], left[idx], right[idx]
        return torch.diag(d) + self.scale * left @ right.T


@dataclass
class DistilledSet:
    img: Tensor  # [N, ...] synthetic images (features or pixels)
    txt: Tensor  # [N, D_txt]
    similarity: Tensor | None  # [N, N] learned soft targets, None -> identity (contrastive)
    init_img: Tensor
    init_txt: Tensor
    step_sizes: dict[str, float]
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    # Iterations after which each step size sat at STEP_SIZE_FLOOR.
    floor_iterations: dict[str, int] = field(default_factory=dict)
    # The synthetic set measured every few iterations by a probe (Distiller.run): one dict
    # per point, `iteration` = iterations done before it (0: the initial pairs).
    collapse_curve: list[dict] = field(default_factory=list)

    def at_floor(self) -> list[str]:
        """The branches whose final learned step size is at the floor (evaluation with
        remedy.eval_learned_lr would train those heads at lr 1e-6, i.e. not at all)."""
        return [g for g, v in self.step_sizes.items() if at_step_size_floor(v)]


class Distiller:
    def __init__(
        self,
        model: DualEncoder,
        init_img: Tensor,
        init_txt: Tensor,
        settings: DistillSettings,
        generator: torch.Generator,
    ) -> None:
        settings.check()
        self.s, self.gen = settings, generator
        self.model = model.eval()  # dropout off: both passes must see the same function
        self.img = nn.Parameter(init_img.detach().clone())
        self.txt = nn.Parameter(init_txt.detach().clone())
        self.init_img, self.init_txt = init_img.detach().clone(), init_txt.detach().clone()
        n = init_txt.shape[0]
        check(
            n >= 2, f"distillation needs at least 2 synthetic pairs, got {n}; raise data.num_pairs"
        )
        device = init_txt.device
        self.sim = (
            LowRankSimilarity(n, settings.sim_rank, settings.sim_alpha, generator).to(device)
            if settings.similarity == "lowrank"
            else None
        )
        groups = ("all",) if settings.branches == "joint" else ("image", "text")
        self.step_sizes = nn.ParameterDict(
            {g: nn.Parameter(torch.tensor(settings.syn_lr_init, device=device)) for g in groups}
        )
        param_groups = [
            {"params": [self.img], "lr": settings.lr_img},
            {"params": [self.txt], "lr": settings.lr_txt},
            {"params": list(self.step_sizes.values()), "lr": settings.lr_lr},
        ]
        if self.sim is not None:
            param_groups.append({"params": list(self.sim.parameters()), "lr": settings.lr_sim})
        self.opt = torch.optim.SGD(param_groups, lr=settings.lr_img, momentum=settings.momentum)
        # Beta(α ≠ 1) draws come from a numpy stream seeded off our generator: torch's Beta
        # has no generator argument, and the global RNG it would use is in a different state
        # when the experts were trained in this run than when they were loaded from cache.
        # No blending, or α = 1: nothing is drawn here, so those runs' streams are unchanged.
        self.beta_rng = (
            np.random.default_rng(int(torch.randint(0, 2**62, (), generator=generator)))
            if settings.blend and settings.blend_alpha != 1.0
            else None
        )
        self.floor_iterations = dict.fromkeys(self.step_sizes, 0)
        self.curve: list[dict] = []  # run(probe=...) fills it

    def group_of(self, name: str) -> str:
        return "all" if self.s.branches == "joint" else self.model.branch_of(name)

    # ------------------------------------------------------------------ inner loop
    def _plan(self, n: int) -> list[tuple[Tensor, tuple[float, Tensor] | None]]:
        """Mini-batches and blend draws of one iteration, replayed identically by both passes."""
        device = self.txt.device
        plan = []
        for _ in range(self.s.syn_steps):
            idx = torch.randperm(n, generator=self.gen)[: self.s.batch_syn].to(device)
            mix = None
            if self.s.blend:
                if self.beta_rng is None:  # Beta(1, 1) is uniform
                    lam = float(torch.rand((), generator=self.gen))
                else:
                    lam = float(self.beta_rng.beta(self.s.blend_alpha, self.s.blend_alpha))
                mix = (lam, torch.randperm(len(idx), generator=self.gen).to(device))
            plan.append((idx, mix))
        return plan

    def _inner_loss(self, params: dict[str, Tensor], idx: Tensor, mix) -> Tensor:
        logits = functional_call(self.model, params, (self.img[idx], self.txt[idx]), {"mix": mix})
        if self.sim is None:
            return contrastive_loss(logits)
        return soft_bce_loss(logits, self.sim(idx))

    def iteration(self, bank: ExpertBank) -> dict[str, float]:
        s = self.s
        snaps = bank.get(int(torch.randint(len(bank), (1,), generator=self.gen)))
        # Start epochs in [0, max_start_epoch), as np.random.randint(0, max_start_epoch).
        n_starts = min(s.max_start_epoch, len(snaps) - s.expert_epochs)
        check(
            n_starts >= 1,
            f"the experts keep {len(snaps) - 1} epochs, fewer than "
            f"remedy.expert_epochs={s.expert_epochs}; retrain them with more epochs",
            DataError,
        )
        start = int(torch.randint(n_starts, (1,), generator=self.gen))
        device = self.txt.device
        theta0 = {k: v.to(device) for k, v in snaps[start].items()}
        target = {k: v.to(device) for k, v in snaps[start + s.expert_epochs].items()}
        names = list(theta0)
        frozen = {n: p.detach() for n, p in self.model.named_parameters() if n not in theta0}
        frozen.update(dict(self.model.named_buffers()))
        alpha = {n: self.step_sizes[self.group_of(n)] for n in names}
        plan = self._plan(self.txt.shape[0])

        # Pass 1: where the student ends, no graph kept.
        theta = dict(theta0)
        for idx, mix in plan:
            req = {n: t.detach().requires_grad_(True) for n, t in theta.items()}
            loss = self._inner_loss({**frozen, **req}, idx, mix)
            grads = torch.autograd.grad(loss, list(req.values()))
            theta = {n: (req[n] - alpha[n].detach() * g).detach() for n, g in zip(names, grads)}

        # Matching loss per group and its gradient v = dL/dθ_T.
        terms: dict[str, list[Tensor]] = {}
        denom: dict[str, Tensor] = {}
        for n in names:
            g = self.group_of(n)
            terms.setdefault(g, []).append(((theta[n] - target[n]) ** 2).sum())
            denom[g] = denom.get(g, 0.0) + ((theta0[n] - target[n]) ** 2).sum()
        group_loss = {g: sum(t) / denom[g].clamp_min(1e-12) for g, t in terms.items()}
        # v = dL/dθ_T of the loss each gradient follows: the step sizes always their own
        # branch's term; the synthetic data the per-branch sum, or the merged term.
        v_lr = {
            n: 2.0 * (theta[n] - target[n]) / denom[self.group_of(n)].clamp_min(1e-12)
            for n in names
        }
        if s.branches == "merged":
            total_den = sum(denom.values()).clamp_min(1e-12)
            v = {n: 2.0 * (theta[n] - target[n]) / total_den for n in names}
        else:
            v = v_lr

        # Pass 2: replay each step with its own graph, back-propagate v·(-α g_t).
        self.opt.zero_grad(set_to_none=True)
        lr_grad = {g: torch.zeros((), device=device) for g in self.step_sizes}
        theta = dict(theta0)
        for idx, mix in plan:
            req = {n: t.detach().requires_grad_(True) for n, t in theta.items()}
            loss = self._inner_loss({**frozen, **req}, idx, mix)
            grads = torch.autograd.grad(loss, list(req.values()), create_graph=True)
            surrogate = sum(-(alpha[n].detach() * (v[n] * g).sum()) for n, g in zip(names, grads))
            surrogate.backward()
            for n, g in zip(names, grads):
                lr_grad[self.group_of(n)] -= (v_lr[n] * g.detach()).sum()
            theta = {n: (req[n] - alpha[n].detach() * g).detach() for n, g in zip(names, grads)}
        for g, p in self.step_sizes.items():
            p.grad = lr_grad[g]
        total = sum(group_loss.values())
        if s.branches == "merged":
            merged = sum(sum(t) for t in terms.values()) / sum(denom.values()).clamp_min(1e-12)
        check(
            math.isfinite(float(total)),
            "distillation diverged (non-finite matching loss); lower "
            "remedy.lr_img / remedy.lr_txt / remedy.lr_lr",
            ConfigError,
        )
        self.opt.step()
        with torch.no_grad():
            for g, p in self.step_sizes.items():
                p.clamp_(min=STEP_SIZE_FLOOR)
                self.floor_iterations[g] += int(at_step_size_floor(p))
        out = {"distill/loss": float(total), "distill/start_epoch": start}
        if s.branches == "merged":
            out["distill/loss_merged"] = float(merged)
        for g, value in group_loss.items():
            out[f"distill/loss_{g}"] = float(value)
            out[f"distill/step_size_{g}"] = float(self.step_sizes[g].detach())
        return out

    def run(
        self,
        bank: ExpertBank,
        log: Callable[[dict, int], None] | None = None,
        probe: Callable[[Tensor, Tensor, int], dict] | None = None,
        probe_every: int = 0,
    ) -> DistilledSet:
        """`iterations` matching steps; `log` gets every log_every-th record. `probe`, when
        given, measures the current synthetic (images, texts, iterations done) before iteration 0 and every
        `probe_every` iterations, and after the last one (DistilledSet.collapse_curve). It
        must not touch the distillation's generator, so the result is the same without it."""
        t0 = time.perf_counter()
        history: list[dict] = []
        self.curve = []
        progress = Progress(self.s.iterations, "distillation", every=10 * self.s.log_every)
        for it in range(self.s.iterations):
            if probe is not None and probe_every > 0 and it % probe_every == 0:
                self._probe(probe, it)
            record = self.iteration(bank)
            progress.step()
            if it % self.s.log_every == 0 or it == self.s.iterations - 1:
                record["distill/iteration"] = it
                history.append(record)
                if log is not None:
                    log(record, it)
        if probe is not None and probe_every > 0:
            self._probe(probe, self.s.iterations)
        progress.close()
        return self.result(history, time.perf_counter() - t0)

    @torch.no_grad()
    def _probe(self, probe: Callable[[Tensor, Tensor, int], dict], it: int) -> None:
        self.curve.append({"iteration": it, **probe(self.img.detach(), self.txt.detach(), it)})

    def result(self, history: list[dict] | None = None, seconds: float = 0.0) -> DistilledSet:
        with torch.no_grad():
            sim = self.sim().detach().clone() if self.sim is not None else None
        return DistilledSet(
            img=self.img.detach().clone(),
            txt=self.txt.detach().clone(),
            similarity=sim,
            init_img=self.init_img,
            init_txt=self.init_txt,
            step_sizes={g: float(p.detach()) for g, p in self.step_sizes.items()},
            history=history or [],
            seconds=seconds,
            floor_iterations=dict(self.floor_iterations),
            collapse_curve=list(self.curve),
        )
