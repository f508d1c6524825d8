"""Test-time fill-ins for missing modalities (`substitution=<name>`).

A substitution sees the per-modality embeddings of an evaluation batch with their masks and
returns embeddings where missing modalities are replaced by a proxy, plus the mask the
backbone should then see. It is fitted once on the training split after training, and it
only ever reads embeddings of *observed* modalities.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from mmc.data.batch import MultimodalDataset
from mmc.errors import choices_error

if TYPE_CHECKING:
    from mmc.models.model import MultimodalModel


class Substitution:
    name = "base"

    def fit(self, model: MultimodalModel, data: MultimodalDataset, device: torch.device) -> None:
        """Collect whatever statistics of the training split the fill-in needs."""

    def __call__(
        self, emb: dict[str, Tensor], mask: dict[str, Tensor], model: MultimodalModel
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        raise NotImplementedError


class ZeroSubstitution(Substitution):
    """Missing embeddings stay zero but are presented to the backbone as observed."""

    name = "zeros"

    def __call__(self, emb, mask, model):
        return emb, {m: torch.ones_like(v) for m, v in mask.items()}


SUBSTITUTIONS: dict[str, type[Substitution]] = {"zeros": ZeroSubstitution}


def make_substitution(name: str) -> Substitution | None:
    """`none` -> None: the backbone handles missing modalities through its mask."""
    if name == "none":
        return None
    if name not in SUBSTITUTIONS:
        raise choices_error("substitution", name, ["none", *SUBSTITUTIONS])
    return SUBSTITUTIONS[name]()
