"""Test-time fill-ins for missing modalities (`substitution=<name>`).

A substitution sees the per-modality embeddings of an evaluation batch (after the remedy's
adapter, zeros where missing) with their masks, and returns embeddings where each missing
modality is replaced by a proxy, plus the mask the backbone should then see (the filled
modalities marked observed). It is fitted once on the training split after training, and a
proxy for a sample is computed only from that sample's *observed* modalities and from
training-split statistics. The baselines are those of the collapse paper's Table 6:

zeros       missing embeddings stay zero but are presented as observed
random      the embedding of a random training sample where the modality is observed
nearest     the modality's embedding in the training sample nearest to this one over the
            modalities both observe (nearest-neighbour representation)
mean        the training-set average embedding of the modality (no class information)
class_mean  the training-set average of the modality for the class the fused model predicts
            from the observed modalities alone
late        class averages weighted by a late-fusion posterior: per-modality linear probes on
            training embeddings, averaged over the observed modalities
ebr         (remedy=ebr only) rank modalities by the cosine similarity of their EBR latents on
            the training split; fill modality i from the best-ranked available j as h_i^-1(g_j)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.errors import ConfigError, choices_error
from mmc.models.encoders import zero_missing
from mmc.remedies.ebr import ExplicitBasisReallocation

if TYPE_CHECKING:
    from mmc.models.model import MultimodalModel


@torch.no_grad()
def adapted_embeddings(
    model: MultimodalModel, split: MultimodalTensors, batch_size: int = 2048
) -> dict[str, Tensor]:
    """Per-modality fusion inputs (encoder + remedy adapter) of a split, zeros where missing."""
    was_training = model.training
    model.eval()
    out: dict[str, list[Tensor]] = {m: [] for m in split.modalities}
    for b in split.iter_batches(batch_size):
        emb = model.encode(b.x, b.mask)
        if model.remedy is not None:
            emb = zero_missing(model.remedy.adapt(emb, b.mask, None), b.mask)
        for m, e in emb.items():
            out[m].append(e.float())
    model.train(was_training)
    return {m: torch.cat(v) for m, v in out.items()}


def _num_classes(data: MultimodalDataset) -> int:
    return 2 if data.task == "binary" else data.num_classes


class Substitution:
    name = "base"

    def fit(self, model: MultimodalModel, data: MultimodalDataset, device: torch.device) -> None:
        """Collect whatever statistics of the training split the fill-in needs."""

    def check(self, model: MultimodalModel) -> None:
        """Raise ConfigError before training when this fill-in cannot work with the model."""

    def fill(
        self, m: str, emb: dict[str, Tensor], mask: dict[str, Tensor], model: MultimodalModel
    ) -> Tensor:
        """Proxy embeddings of modality m for every row of `emb` (rows observing m are ignored).

        Must read emb[o] only where mask[o] is True.
        """
        raise NotImplementedError

    @torch.no_grad()
    def __call__(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], model: MultimodalModel
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        any_observed = torch.stack(list(mask.values()), dim=1).any(dim=1)
        # Proxies come from the original observed modalities only, never from other proxies.
        src = zero_missing(emb, mask)
        new_emb, new_mask = dict(emb), dict(mask)
        for m in emb:
            todo = ~mask[m] & any_observed
            if not bool(todo.any()):
                continue
            proxy = self.fill(m, src, mask, model).to(emb[m].dtype)
            new_emb[m] = torch.where(todo.unsqueeze(-1), proxy, emb[m])
            new_mask[m] = mask[m] | todo
        return new_emb, new_mask


class ZeroSubstitution(Substitution):
    name = "zeros"

    def fill(self, m, emb, mask, model):
        return torch.zeros_like(emb[m])


class _TrainBank(Substitution):
    """Keeps the training split's fusion inputs, masks and labels."""

    def fit(self, model, data, device):
        self.emb = adapted_embeddings(model, data.train)
        self.mask = {m: t.to(device) for m, t in data.train.mask.items()}
        self.y = data.train.y.to(device)
        self.labelled = data.train.labelled.to(device)
        self.num_classes = _num_classes(data)
        for m in self.emb:
            if not bool(self.mask[m].any()):
                raise ConfigError(
                    f"substitution={self.name}: modality {m} is never observed in training; nothing to fill it from"
                )


class RandomSubstitution(_TrainBank):
    name = "random"

    def fit(self, model, data, device):
        super().fit(model, data, device)
        self.gen = torch.Generator().manual_seed(0)

    def fill(self, m, emb, mask, model):
        pool = self.emb[m][self.mask[m]]
        pick = torch.randint(0, len(pool), (len(emb[m]),), generator=self.gen).to(pool.device)
        return pool[pick]


class NearestSubstitution(_TrainBank):
    name = "nearest"
    chunk = 512

    def fill(self, m, emb, mask, model):
        cand = self.mask[m].nonzero(as_tuple=True)[0]
        others = [o for o in emb if o != m]
        out = []
        for start in range(0, len(emb[m]), self.chunk):
            rows = slice(start, start + self.chunk)
            dist = torch.zeros(len(emb[m][rows]), len(cand), device=cand.device)
            shared = torch.zeros_like(dist)
            for o in others:
                both = mask[o][rows].float().unsqueeze(1) * self.mask[o][cand].float().unsqueeze(0)
                d = torch.cdist(emb[o][rows].float(), self.emb[o][cand]).square()
                dist += both * d
                shared += both
            # Mean squared distance over the modalities both samples observe.
            dist = torch.where(
                shared > 0, dist / shared.clamp_min(1), torch.full_like(dist, float("inf"))
            )
            out.append(self.emb[m][cand[dist.argmin(dim=1)]])
        return torch.cat(out)


class MeanSubstitution(_TrainBank):
    name = "mean"

    def fill(self, m, emb, mask, model):
        mean = self.emb[m][self.mask[m]].mean(dim=0)
        return mean.expand_as(emb[m])


class _ClassMeans(_TrainBank):
    def fit(self, model, data, device):
        super().fit(model, data, device)
        self.class_means = {}
        for m, e in self.emb.items():
            keep = self.mask[m] & self.labelled
            y, e = self.y[keep].long(), e[keep]
            sums = torch.zeros(self.num_classes, e.shape[1], device=e.device).index_add_(0, y, e)
            counts = torch.bincount(y, minlength=self.num_classes).float().unsqueeze(1)
            overall = (
                e.mean(dim=0, keepdim=True)
                if len(e)
                else torch.zeros(1, e.shape[1], device=e.device)
            )
            # A class never seen with this modality falls back to the modality's mean.
            self.class_means[m] = torch.where(counts > 0, sums / counts.clamp_min(1), overall)


class ClassMeanSubstitution(_ClassMeans):
    name = "class_mean"

    def fill(self, m, emb, mask, model):
        out = model.backbone(emb, mask, None)
        logits = out.logits if out.logits is not None else model.head(out.z)
        if logits.shape[-1] == 1:
            pred = (logits.squeeze(-1) > 0).long()
        else:
            pred = logits.argmax(dim=-1)
        return self.class_means[m][pred]


class LateFusionSubstitution(_ClassMeans):
    name = "late"

    def fit(self, model, data, device):
        from sklearn.linear_model import LogisticRegression

        super().fit(model, data, device)
        self.probes = {}
        for m, e in self.emb.items():
            keep = self.mask[m] & self.labelled
            y = self.y[keep].long().cpu().numpy()
            if len(np.unique(y)) < 2:
                raise ConfigError(
                    f"substitution=late: modality {m} has fewer than two classes in its observed training rows"
                )
            probe = LogisticRegression(max_iter=300).fit(e[keep].cpu().numpy(), y)
            self.probes[m] = probe

    def _proba(self, m: str, e: Tensor) -> Tensor:
        probe = self.probes[m]
        p = np.zeros((len(e), self.num_classes), dtype=np.float32)
        p[:, probe.classes_] = probe.predict_proba(e.cpu().numpy())
        return torch.from_numpy(p).to(e.device)

    def fill(self, m, emb, mask, model):
        post = torch.zeros(len(emb[m]), self.num_classes, device=emb[m].device)
        count = torch.zeros(len(emb[m]), 1, device=emb[m].device)
        for o in emb:
            if o == m:
                continue
            obs = mask[o]
            if bool(obs.any()):
                post[obs] += self._proba(o, emb[o][obs])
                count[obs] += 1
        post = post / count.clamp_min(1)
        return post @ self.class_means[m]


class EBRSubstitution(Substitution):
    name = "ebr"

    def check(self, model):
        if not isinstance(model.remedy, ExplicitBasisReallocation):
            raise ConfigError(
                "substitution=ebr decodes one modality's EBR latent into another's, so it needs "
                "remedy=ebr; add remedy=ebr or pick another substitution (e.g. nearest)"
            )

    @torch.no_grad()
    def fit(self, model, data, device):
        self.check(model)
        remedy = model.remedy
        was_training = model.training
        model.eval()
        mods = model.modalities
        sums = torch.zeros(len(mods), len(mods), dtype=torch.float64)
        counts = torch.zeros_like(sums)
        for b in data.train.iter_batches(2048):
            remedy.adapt(model.encode(b.x, b.mask), b.mask, None)
            g = {m: torch.nn.functional.normalize(remedy.latents[m].float(), dim=-1) for m in mods}
            for i, a in enumerate(mods):
                for j, c in enumerate(mods):
                    both = b.mask[a] & b.mask[c]
                    sums[i, j] += float((g[a][both] * g[c][both]).sum())
                    counts[i, j] += float(both.sum())
        model.train(was_training)
        sim = torch.where(
            counts > 0, sums / counts.clamp_min(1), torch.full_like(sums, -float("inf"))
        )
        self.similarity = {
            a: {c: float(sim[i, j]) for j, c in enumerate(mods)} for i, a in enumerate(mods)
        }
        # One ranking per missing modality: the others by similarity of their latents to its own.
        self.ranking = {
            a: sorted((c for c in mods if c != a), key=lambda c: -self.similarity[a][c])
            for a in mods
        }

    def fill(self, m, emb, mask, model):
        remedy = model.remedy
        out = torch.zeros_like(emb[m])
        done = torch.zeros(len(out), dtype=torch.bool, device=out.device)
        for j in self.ranking[m]:
            rows = mask[j] & ~done
            if bool(rows.any()):
                out[rows] = remedy.decode(m, remedy.latents[j][rows]).to(out.dtype)
                done |= rows
        return out


SUBSTITUTIONS: dict[str, type[Substitution]] = {
    s.name: s
    for s in (
        ZeroSubstitution,
        RandomSubstitution,
        NearestSubstitution,
        LateFusionSubstitution,
        MeanSubstitution,
        ClassMeanSubstitution,
        EBRSubstitution,
    )
}


def make_substitution(name: str, model: MultimodalModel | None = None) -> Substitution | None:
    """`none` -> None: the backbone handles missing modalities through its mask."""
    if name == "none":
        return None
    if name not in SUBSTITUTIONS:
        raise choices_error("substitution", name, ["none", *SUBSTITUTIONS])
    sub = SUBSTITUTIONS[name]()
    if model is not None:
        sub.check(model)
    return sub
