"""Encoders for time series inputs: [B, T, F] -> [B, out_dim]."""

from __future__ import annotations

from torch import Tensor, nn

from mmc.data.batch import ModalitySpec


class GRUEncoder(nn.Module):
    """A GRU over the time axis; the last step's hidden state -> Linear -> ReLU.

    Sequences are right-aligned (most recent step last, zero padding in front), so the final
    hidden state has just read the most recent measurements.
    """

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: int,
        hidden: int = 64,
        layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(spec.shape) != 2:
            raise ValueError(f"GRUEncoder needs [T, F] inputs per sample, got shape {spec.shape}")
        self.gru = nn.GRU(
            spec.shape[1], hidden, num_layers=layers, batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )  # fmt: skip
        self.proj = nn.Sequential(nn.Linear(hidden, out_dim), nn.ReLU())
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        _, h = self.gru(x.float())
        return self.proj(h[-1])
