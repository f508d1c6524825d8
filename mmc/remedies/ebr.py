"""`remedy=ebr`: Explicit Basis Reallocation (collapse paper §3.4).

Per modality i an encoder head h_i maps the encoder output to a shared latent g_i and a
decoder h_i^-1 maps it back; h_i^-1(h_i(f_i(x_i))) replaces f_i(x_i) as the fusion input,
so the fusion backbone is untouched. A modality discriminator psi predicts which modality a
latent came from. psi minimises the modality loss L_md; through a gradient-reversal layer
the heads h_i maximise it while everything minimises the task loss. Adversarial blocks of
`interleave` epochs alternate with task-only blocks, and stop once the task loss no longer
falls from one adversarial block to the next.

`align` (off by default, NOT in the paper) adds align * (in-batch InfoNCE between g_i(x) and
g_j(x)) over the modality pairs a sample observes: per-sample alignment of the latents, which L_md (a
distribution-matching loss) does not ask for but EBR substitution relies on. Every epoch
records the discriminator's accuracy and the same-sample vs random-pair latent cosine
(`ebr/disc_acc`, `ebr/cos_same`, `ebr/cos_random`; kept in `history`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmc.data.batch import Batch, MultimodalDataset
from mmc.diagnostics.latent_alignment import latent_alignment
from mmc.errors import check
from mmc.remedies.base import Remedy
from mmc.remedies.grl import reverse_grad

if TYPE_CHECKING:
    from mmc.context import RunContext
    from mmc.models.model import ModelOutput, MultimodalModel


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ExplicitBasisReallocation(Remedy):
    def __init__(
        self,
        hidden: int = 1024,
        shared_dim: int = 512,
        disc_hidden: list[int] = (512, 256),
        alpha: float = 0.01,
        interleave: int = 10,
        adversarial_first: bool = True,
        stop_on_plateau: bool = True,
        align: float = 0.0,
    ) -> None:
        super().__init__()
        check(hidden >= 1 and shared_dim >= 1, "remedy.hidden and remedy.shared_dim must be >= 1")
        check(alpha >= 0, f"remedy.alpha={alpha} must be >= 0 (the paper uses 0.01)")
        check(interleave >= 1, f"remedy.interleave={interleave} must be >= 1 epoch")
        self.hidden, self.shared_dim, self.disc_hidden = hidden, shared_dim, list(disc_hidden)
        check(align >= 0, f"remedy.align={align} must be >= 0 (0 = the paper's EBR)")
        self.alpha, self.interleave, self.align = alpha, interleave, align
        self.adversarial_first, self.stop_on_plateau = adversarial_first, stop_on_plateau
        self.modalities: list[str] = []
        self.heads = nn.ModuleDict()
        self.decoders = nn.ModuleDict()
        self.discriminator: nn.Module | None = None
        # Schedule state lives in buffers so that it is checkpointed and survives resume.
        self.register_buffer("stopped", torch.tensor(False))
        self.register_buffer("last_block_loss", torch.tensor(float("inf")))
        self._block_losses: list[float] = []
        # Latents of the last `adapt` call, for the modality loss and EBR substitution.
        self.latents: dict[str, Tensor] = {}
        self.latent_mask: dict[str, Tensor] = {}
        # Per-epoch diagnostics: sums over the epoch's batches, then one row per epoch.
        self._diag_sums: dict[str, float] = {}
        self.history: list[dict[str, float]] = []

    def setup(self, model: MultimodalModel, data: MultimodalDataset, ctx: RunContext) -> None:
        check(
            len(data.modalities) >= 2,
            "remedy=ebr reallocates bases across modalities but this data set has one modality; "
            "use remedy=none or a multimodal data set",
        )
        dim = ctx.cfg.model.dim
        self.modalities = list(data.modalities)
        self.heads = nn.ModuleDict(
            {m: mlp([dim, self.hidden, self.shared_dim]) for m in self.modalities}
        )
        self.decoders = nn.ModuleDict(
            {m: mlp([self.shared_dim, self.hidden, dim]) for m in self.modalities}
        )
        self.discriminator = mlp([self.shared_dim, *self.disc_hidden, len(self.modalities)])

    def adapt(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None
    ) -> dict[str, Tensor]:
        self.latents = {m: self.heads[m](e) for m, e in emb.items()}
        self.latent_mask = mask
        return {m: self.decoders[m](g) for m, g in self.latents.items()}

    def decode(self, modality: str, latent: Tensor) -> Tensor:
        """h_i^-1: a shared latent (from any modality) -> a fusion input for `modality`."""
        return self.decoders[modality](latent)

    def adversarial(self, epoch: int) -> bool:
        if bool(self.stopped):
            return False
        block_is_odd = (epoch // self.interleave) % 2 == 1
        return block_is_odd != self.adversarial_first

    def modality_loss(self, reverse: bool = True) -> Tensor:
        """Cross-entropy of psi over the latents of observed modalities (of the last adapt)."""
        feats, labels = [], []
        for i, m in enumerate(self.modalities):
            g = self.latents[m][self.latent_mask[m]]
            feats.append(reverse_grad(g, 1.0) if reverse else g)
            labels.append(torch.full((len(g),), i, dtype=torch.long, device=g.device))
        x, y = torch.cat(feats), torch.cat(labels)
        if len(y) == 0:
            return x.sum() * 0.0
        return F.cross_entropy(self.discriminator(x.float()), y)

    def alignment_loss(self, temperature: float = 0.1) -> Tensor:
        """Symmetric in-batch InfoNCE between the latents of modality pairs that a sample
        observes together: the same sample's latents attract, other samples' repel (a plain
        1 - cos term is minimised by mapping every latent to one direction)."""
        terms = []
        for a in range(len(self.modalities)):
            for b in range(a + 1, len(self.modalities)):
                i, j = self.modalities[a], self.modalities[b]
                both = self.latent_mask[i] & self.latent_mask[j]
                if int(both.sum()) >= 2:
                    gi = F.normalize(self.latents[i][both].float(), dim=1)
                    gj = F.normalize(self.latents[j][both].float(), dim=1)
                    sim = gi @ gj.T / temperature
                    target = torch.arange(len(sim), device=sim.device)
                    terms.append(
                        (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target)) / 2
                    )
        if not terms:
            return next(iter(self.latents.values())).sum() * 0.0
        return torch.stack(terms).mean()

    @torch.no_grad()
    def _track(self) -> None:
        """Discriminator accuracy and same-sample / random-pair cosine on this batch."""
        feats, labels = [], []
        for i, m in enumerate(self.modalities):
            g = self.latents[m][self.latent_mask[m]]
            feats.append(g)
            labels.append(torch.full((len(g),), i, dtype=torch.long, device=g.device))
        x, y = torch.cat(feats), torch.cat(labels)
        if len(y) == 0:
            return
        acc = float((self.discriminator(x.float()).argmax(dim=1) == y).float().mean())
        cos = latent_alignment(self.latents, self.latent_mask, seed=len(self.history))
        s = self._diag_sums
        for k, v in (("disc_acc", acc), ("cos_same", cos["cos_same"]),
                     ("cos_random", cos["cos_random"]), ("n", 1.0)):  # fmt: skip
            s[k] = s.get(k, 0.0) + v

    def losses(self, out: ModelOutput, batch: Batch, epoch: int) -> dict[str, Tensor]:
        self._track()
        out: dict[str, Tensor] = {}
        if self.align > 0:
            out["ebr_align"] = self.align * self.alignment_loss()
        if self.adversarial(epoch) and self.alpha > 0:
            out["ebr_modality"] = self.alpha * self.modality_loss()
        return out

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        s, self._diag_sums = self._diag_sums, {}
        if s.get("n"):
            row = {k: s[k] / s["n"] for k in ("disc_acc", "cos_same", "cos_random")}
            row["adversarial"] = float(self.adversarial(epoch))
            self.history.append({"epoch": epoch, **row})
            metrics.update({f"ebr/{k}": v for k, v in row.items()})
        self._schedule(epoch, metrics)

    def _schedule(self, epoch: int, metrics: dict[str, float]) -> None:
        if not self.adversarial(epoch) or "loss/task" not in metrics:
            return
        self._block_losses.append(metrics["loss/task"])
        if (epoch + 1) % self.interleave:
            return  # the block is not over yet
        block = sum(self._block_losses) / len(self._block_losses)
        self._block_losses = []
        if self.stop_on_plateau and block >= float(self.last_block_loss):
            self.stopped.fill_(True)
        self.last_block_loss.fill_(block)
