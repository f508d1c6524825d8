"""In-memory multimodal data: per-modality tensors, per-modality masks, labels.

Missing modalities are data, not errors: every split carries a boolean mask per modality
(True = observed), and the values under a False mask are never meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

Task = Literal["binary", "multiclass"]


@dataclass(frozen=True)
class ModalitySpec:
    """What an encoder needs to know about one modality's per-sample input."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    vocab_size: int | None = None  # for token/code modalities


@dataclass
class Batch:
    """One mini-batch: `x[m]` is [B, ...], `mask[m]` is [B] bool, `y` is [B]."""

    x: dict[str, Tensor]
    mask: dict[str, Tensor]
    y: Tensor
    labelled: Tensor  # [B] bool: False rows are kept out of supervised losses

    @property
    def modalities(self) -> list[str]:
        return list(self.x)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        def mv(t: Tensor) -> Tensor:
            return t.to(device, non_blocking=non_blocking)

        return Batch(
            x={m: mv(t) for m, t in self.x.items()},
            mask={m: mv(t) for m, t in self.mask.items()},
            y=mv(self.y),
            labelled=mv(self.labelled),
        )


@dataclass
class MultimodalTensors:
    """One split held as whole tensors; batches are gathered by index, not collated."""

    x: dict[str, Tensor]
    mask: dict[str, Tensor]
    y: Tensor
    labelled: Tensor | None = None

    def __post_init__(self) -> None:
        if self.labelled is None:
            self.labelled = torch.ones(len(self.y), dtype=torch.bool)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def modalities(self) -> list[str]:
        return list(self.x)

    def batch(self, idx: Tensor | slice) -> Batch:
        return Batch(
            x={m: t[idx] for m, t in self.x.items()},
            mask={m: t[idx] for m, t in self.mask.items()},
            y=self.y[idx],
            labelled=self.labelled[idx],
        )

    def all(self) -> Batch:
        return self.batch(slice(None))

    def subset(self, idx: Tensor) -> MultimodalTensors:
        b = self.batch(idx)
        return MultimodalTensors(b.x, b.mask, b.y, b.labelled)

    def to(self, device: torch.device | str) -> MultimodalTensors:
        b = self.all().to(device)
        return MultimodalTensors(b.x, b.mask, b.y, b.labelled)

    def iter_batches(
        self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None
    ):
        n = len(self)
        if not shuffle:
            for start in range(0, n, batch_size):
                yield self.batch(slice(start, start + batch_size))
            return
        order = torch.randperm(n, generator=generator).to(self.y.device)
        # Masks that are all True (fully observed modalities, all rows labelled: the usual
        # case) are sliced from one constant tensor instead of gathered on every step.
        full = {m: bool(t.all()) for m, t in self.mask.items()}
        all_labelled = bool(self.labelled.all())
        ones = torch.ones(min(batch_size, n), dtype=torch.bool, device=self.y.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            const = ones[: len(idx)]
            yield Batch(
                x={m: t[idx] for m, t in self.x.items()},
                mask={m: const if full[m] else t[idx] for m, t in self.mask.items()},
                y=self.y[idx],
                labelled=const if all_labelled else self.labelled[idx],
            )


@dataclass
class MultimodalDataset:
    """Train/val/test splits plus what the model needs to know about the data."""

    train: MultimodalTensors
    val: MultimodalTensors
    test: MultimodalTensors
    specs: dict[str, ModalitySpec]
    task: Task
    num_classes: int
    # Free-form facts about the data (cohort sizes, missingness patterns, weakest modality...)
    info: dict = field(default_factory=dict)
    # Known latent factors, where a synthetic generator has them: {modality: {kind: [D, k]}}
    # input-space directions whose projections x @ dirs are that kind's factor values
    # (kinds "predictive", "noisy"); empty for real data. Kept out of `info`, which is JSON.
    factors: dict[str, dict[str, Tensor]] = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        return list(self.specs)

    @property
    def num_outputs(self) -> int:
        return 1 if self.task == "binary" else self.num_classes

    def splits(self) -> dict[str, MultimodalTensors]:
        return {"train": self.train, "val": self.val, "test": self.test}
