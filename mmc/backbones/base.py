"""The fusion-backbone interface: per-modality embeddings + masks -> fused representation.

A backbone is selected by `backbone=<name>` (conf/backbone/<name>.yaml, `_target_` = its
class). The trainer constructs it with `modalities`, `dim` (embedding size of every modality)
and `num_outputs`, plus the YAML's own keys. Adding one = a module + a YAML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from mmc.data.batch import Batch


@dataclass
class FusionOutput:
    z: Tensor  # [B, out_dim] fused representation (what the rank diagnostics look at)
    # Backbones that predict themselves (late fusion, MUSE's own classifier) set logits;
    # otherwise the model's shared head maps z to logits.
    logits: Tensor | None = None
    # Extra training losses, already weighted; logged separately as loss/<name>.
    losses: dict[str, Tensor] = field(default_factory=dict)


class FusionBackbone(nn.Module):
    """Base class. `mask[m]` is a [B] bool tensor, True where modality m is observed.

    Embeddings of missing modalities arrive as zeros; a backbone must not read them as data.
    `batch` gives access to labels (supervised auxiliary losses) and is None at inference.
    """

    out_dim: int
    # True when each row's output depends on that row alone (no attention, graph or statistics
    # across the batch): the per-epoch diagnostics then stack the masked variants of the probe
    # into one forward pass, which gives the same rows as one pass per variant.
    rows_independent: bool = False

    def __init__(self, modalities: list[str], dim: int, num_outputs: int) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.dim = dim
        self.num_outputs = num_outputs

    def forward(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], batch: Batch | None = None
    ) -> FusionOutput:
        raise NotImplementedError
