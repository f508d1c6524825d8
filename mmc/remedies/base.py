"""The remedy interface: hooks the one training loop calls. The base class is `remedy=none`.

A remedy is selected by `remedy=<name>` (conf/remedy/<name>.yaml, `_target_` = its class,
constructed with the YAML's keys). It is registered inside the model, so any modules it
creates in `setup` are trained by the main optimiser and saved in checkpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from torch import Tensor, nn

from mmc.data.batch import Batch, MultimodalDataset

if TYPE_CHECKING:
    from mmc.context import RunContext
    from mmc.models.model import ModelOutput, MultimodalModel


class Remedy(nn.Module):
    # The runner whose data sets it applies to (mmc/runners/select.py checks it).
    runner: ClassVar[str] = "classification"

    def setup(self, model: MultimodalModel, data: MultimodalDataset, ctx: RunContext) -> None:
        """Called once after the model is built, before the optimiser exists."""

    def pretrain(self, model: MultimodalModel, data: MultimodalDataset, ctx: RunContext) -> None:
        """An extra training stage before fusion training (e.g. KD encoder pretraining)."""

    def adapt(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None
    ) -> dict[str, Tensor]:
        """Transform encoder outputs before fusion (e.g. EBR's h_i^-1(h_i(.)))."""
        return emb

    def losses(self, out: ModelOutput, batch: Batch, epoch: int) -> dict[str, Tensor]:
        """Extra loss terms for this step, already weighted; logged as loss/<name>."""
        return {}

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        """Schedule hooks (e.g. EBR's interleaved adversarial blocks)."""
