"""`remedy=kd`: cross-modal knowledge distillation as an encoder pretraining stage.

Collapse paper §3.3 (implicit basis reallocation): before fusion training, the encoder of the
modality that collapses (the student) is pretrained by distillation from the modality or
modalities that survive (the teachers). Teachers are the run's unimodal references (encoders
trained alone on the task, once per run, `ctx.references`); their validation strength also
ranks the modalities, which picks the student (the weakest) and the distillation order when
there are several teachers.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import torch
from torch import nn

from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.errors import check, choices_error
from mmc.remedies.base import Remedy
from mmc.remedies.crd import Embed, MemoryBankNCE, info_nce

if TYPE_CHECKING:
    from mmc.context import RunContext
    from mmc.models.model import MultimodalModel

ORDERS = ("weakest_to_strongest", "strongest_to_weakest", "strongest", "random", "simultaneous")
OBJECTIVES = ("crd", "infonce")


def distillation_stages(
    teachers_by_strength: list[str], order: str, seed: int = 0
) -> list[list[str]]:
    """Teachers (weakest first) -> the stages of distillation, each a list of teachers."""
    ranked = list(teachers_by_strength)
    if order == "weakest_to_strongest":
        return [[t] for t in ranked]
    if order == "strongest_to_weakest":
        return [[t] for t in reversed(ranked)]
    if order == "strongest":
        return [[ranked[-1]]]
    if order == "random":
        random.Random(seed).shuffle(ranked)
        return [[t] for t in ranked]
    if order == "simultaneous":
        return [ranked]
    raise choices_error("remedy.order", order, ORDERS)


class KnowledgeDistillation(Remedy):
    def __init__(
        self,
        student: str = "auto",
        teachers: list[str] | str = "auto",
        order: str = "weakest_to_strongest",
        objective: str = "crd",
        feat_dim: int = 128,
        temperature: float = 0.07,
        nce_negatives: int = 16384,
        nce_momentum: float = 0.5,
        epochs: int = 20,
        lr: float = 1e-3,
        batch_size: int | None = None,
        init_teachers: bool = False,
    ) -> None:
        super().__init__()
        if order not in ORDERS:
            raise choices_error("remedy.order", order, ORDERS)
        if objective not in OBJECTIVES:
            raise choices_error("remedy.objective", objective, OBJECTIVES)
        check(epochs >= 1, f"remedy.epochs={epochs} must be >= 1")
        check(temperature > 0, f"remedy.temperature={temperature} must be > 0")
        self.student, self.teachers, self.order, self.objective = (
            student,
            teachers,
            order,
            objective,
        )
        self.feat_dim, self.temperature = feat_dim, temperature
        self.nce_negatives, self.nce_momentum = nce_negatives, nce_momentum
        self.epochs, self.lr = epochs, lr
        self.batch_size, self.init_teachers = batch_size, init_teachers
        # What pretraining did (strengths, student, stages, losses): read by tests and docs.
        self.report: dict = {}

    # ------------------------------------------------------------------ checks
    def setup(self, model: MultimodalModel, data: MultimodalDataset, ctx: RunContext) -> None:
        mods = data.modalities
        check(
            len(mods) >= 2,
            f"remedy=kd distils from one modality into another but this data set has only "
            f"{len(mods)} modality ({', '.join(mods)}); use remedy=none or a multimodal data set",
        )
        if self.student != "auto" and self.student not in mods:
            raise choices_error("remedy.student", self.student, ["auto", *mods])
        if self.teachers != "auto":
            teachers = [self.teachers] if isinstance(self.teachers, str) else list(self.teachers)
            for t in teachers:
                if t not in mods:
                    raise choices_error("remedy.teachers entry", t, mods)
            check(
                self.student not in teachers,
                f"remedy.teachers lists the student {self.student}; a modality cannot teach itself",
            )
            check(
                len(teachers) >= 1, "remedy.teachers is empty; give at least one modality or auto"
            )

    # ------------------------------------------------------------------ stage 2: distillation
    def _distil(
        self, ctx, model, split: MultimodalTensors, student: str, teachers: list[str], uni
    ) -> list[float]:
        """Train the student encoder against frozen teacher encoders; returns per-epoch losses."""
        both = split.mask[student].clone()
        for t in teachers:
            both &= split.mask[t]
        rows = both.nonzero(as_tuple=True)[0]
        check(
            len(rows) >= 2,
            f"remedy=kd: too few training samples observe both {student} and {', '.join(teachers)}",
        )
        data = split.subset(rows)
        n, dim, device = len(data), ctx.cfg.model.dim, ctx.device
        enc = model.encoders[student]
        embed_s = nn.ModuleDict({t: Embed(dim, self.feat_dim) for t in teachers}).to(device)
        embed_t = nn.ModuleDict({t: Embed(dim, self.feat_dim) for t in teachers}).to(device)
        banks = nn.ModuleDict(
            {
                t: MemoryBankNCE(
                    n, self.feat_dim, self.nce_negatives, self.temperature, self.nce_momentum
                )
                for t in teachers
            }
        ).to(device)
        frozen = {t: uni[t].encoders[t].eval().requires_grad_(False) for t in teachers}
        params = [*enc.parameters(), *embed_s.parameters(), *embed_t.parameters()]
        opt = torch.optim.Adam(params, lr=self.lr)
        gen = torch.Generator().manual_seed(int(ctx.cfg.seed) + 31)
        bs = self.batch_size or ctx.cfg.train.batch_size
        curve = []
        enc.train()
        for _ in range(self.epochs):
            total, steps = 0.0, 0
            order = torch.randperm(n, generator=gen).to(device)
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                if len(idx) < 2:
                    continue
                b = data.batch(idx)
                s_feat = enc(b.x[student])
                loss = 0.0
                for t in teachers:
                    with torch.no_grad():
                        t_feat = frozen[t](b.x[t])
                    s, te = embed_s[t](s_feat), embed_t[t](t_feat)
                    if self.objective == "crd":
                        loss = loss + banks[t](s, te, idx, gen)
                    else:
                        loss = loss + info_nce(s, te, self.temperature)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, steps = total + float(loss.detach()), steps + 1
            curve.append(total / max(steps, 1))
        return curve

    def pretrain(self, model: MultimodalModel, data: MultimodalDataset, ctx: RunContext) -> None:
        refs = ctx.references
        strength, uni = {}, {}
        for m in data.modalities:
            check(
                bool(data.train.mask[m].any()),
                f"remedy=kd: modality {m} is never observed in training",
            )
            strength[m], uni[m] = refs.val_score(m), refs.model(m)
        ranked = sorted(data.modalities, key=lambda m: strength[m])  # weakest first
        student = ranked[0] if self.student == "auto" else self.student
        if self.teachers == "auto":
            teachers = [m for m in ranked if m != student]
        else:
            chosen = [self.teachers] if isinstance(self.teachers, str) else list(self.teachers)
            teachers = [m for m in ranked if m in chosen]
        stages = distillation_stages(teachers, self.order, int(ctx.cfg.seed))
        ctx.logger.info("kd: strengths %s; student %s; stages %s", strength, student, stages)
        curves = []
        for i, stage in enumerate(stages):
            curve = self._distil(ctx, model, data.train, student, stage, uni)
            curves.append(curve)
            for e, v in enumerate(curve):
                ctx.log({"kd/stage": i, "kd/epoch": e, "kd/loss": v})
        if self.init_teachers:
            for t in teachers:
                model.encoders[t].load_state_dict(uni[t].encoders[t].state_dict())
        self.report = {
            "strength": strength,
            "monitor": refs.monitor,
            "student": student,
            "teachers": teachers,
            "stages": stages,
            "losses": curves,
        }
