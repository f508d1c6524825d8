"""`remedy=ebr`: Explicit Basis Reallocation (collapse paper §3.4).

Per modality i an encoder head h_i maps the encoder output to a shared latent g_i and a
decoder h_i^-1 maps it back; h_i^-1(h_i(f_i(x_i))) replaces f_i(x_i) as the fusion input,
so the fusion backbone is untouched. A modality discriminator psi predicts which modality a
latent came from. psi minimises the modality loss L_md; through a gradient-reversal layer
the heads h_i maximise it while everything minimises the task loss. Adversarial blocks of
`interleave` epochs alternate with task-only blocks, and stop once the task loss no longer
falls from one adversarial block to the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmc.data.batch import Batch, MultimodalDataset
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
    ) -> None:
        super().__init__()
        check(hidden >= 1 and shared_dim >= 1, "remedy.hidden and remedy.shared_dim must be >= 1")
        check(alpha >= 0, f"remedy.alpha={alpha} must be >= 0 (the paper uses 0.01)")
        check(interleave >= 1, f"remedy.interleave={interleave} must be >= 1 epoch")
        self.hidden, self.shared_dim, self.disc_hidden = hidden, shared_dim, list(disc_hidden)
        self.alpha, self.interleave = alpha, interleave
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

    def losses(self, out: ModelOutput, batch: Batch, epoch: int) -> dict[str, Tensor]:
        if not self.adversarial(epoch) or self.alpha == 0:
            return {}
        return {"ebr_modality": self.alpha * self.modality_loss()}

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
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
