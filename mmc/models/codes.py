"""Encoder for code modalities in either representation the MIMIC preparation offers."""

from __future__ import annotations

from torch import Tensor, nn

from mmc.data.batch import ModalitySpec
from mmc.models.encoders import EmbeddingBagEncoder, MLPEncoder


class CodeEncoder(nn.Module):
    """Integer code ids (a vocabulary) -> learned embedding bag; a fixed vector (e.g. mean
    title embedding) -> MLP. Lets one config serve `code_repr=ids` and `code_repr=titles`."""

    def __init__(
        self, spec: ModalitySpec, out_dim: int, embed_dim: int = 64, hidden: list[int] = (64,)
    ) -> None:
        super().__init__()
        if spec.vocab_size is not None:
            self.net = EmbeddingBagEncoder(spec, out_dim, embed_dim=embed_dim)
        else:
            self.net = MLPEncoder(spec, out_dim, hidden=list(hidden))
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
