"""LeNet-style CNN encoders, the standard avMNIST encoders (MultiBench: image 48-d with
3 extra blocks, audio 192-d with 5).

One 5x5 convolution with `channels` filters, then `blocks` 3x3 convolutions that each double
the channels; every convolution is followed by a normalisation, ReLU and 2x2 max pooling
(skipped once the map is 1 pixel wide). Global average pooling gives channels * 2**blocks
features, projected to `out_dim` (the fusion backbone's embedding size).
"""

from __future__ import annotations

from torch import Tensor, nn

from mmc.data.batch import ModalitySpec
from mmc.errors import ConfigError, check, choices_error

NORMS = ("layer", "batch", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        # One group = per-sample statistics over (C, H, W): a sample's embedding never depends
        # on the other rows of its batch, in particular not on rows whose modality is masked.
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class LeNetEncoder(nn.Module):
    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: int,
        channels: int = 6,
        blocks: int = 3,
        norm: str = "layer",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check(
            len(spec.shape) in (2, 3),
            f"LeNetEncoder needs an image-like modality [C, H, W] or [H, W], got shape {spec.shape}",
            ConfigError,
        )
        if norm not in NORMS:
            raise choices_error("encoder norm", norm, NORMS)
        check(channels >= 1 and blocks >= 0, "LeNetEncoder needs channels >= 1 and blocks >= 0")
        in_ch = spec.shape[0] if len(spec.shape) == 3 else 1
        size = min(spec.shape[-2:])
        self.unsqueeze = len(spec.shape) == 2
        layers: list[nn.Module] = []
        widths = [in_ch, *(channels * 2**i for i in range(blocks + 1))]
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            k = 5 if i == 0 else 3
            layers += [
                nn.Conv2d(a, b, k, padding=k // 2, bias=norm == "none"),
                _norm(norm, b),
                nn.ReLU(),
            ]
            if size >= 2:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.feature_dim = widths[-1]
        self.proj = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(self.feature_dim, out_dim), nn.ReLU()
        )
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        x = x.float()
        if self.unsqueeze:
            x = x.unsqueeze(1)
        return self.proj(self.features(x))
