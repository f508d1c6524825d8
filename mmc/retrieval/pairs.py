"""In-memory retrieval data: per-split image features, caption features, caption -> image."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from mmc.errors import DataError, check


@dataclass
class PairSplit:
    """`img[i]` is image i, `txt[j]` caption j, which describes image `txt2img[j]`."""

    img: Tensor  # [N_img, ...] features (or pixels)
    txt: Tensor  # [N_cap, D_txt]
    txt2img: Tensor  # [N_cap] long

    def __len__(self) -> int:
        return int(self.txt.shape[0])

    @property
    def num_images(self) -> int:
        return int(self.img.shape[0])

    def to(self, device: torch.device | str) -> PairSplit:
        return PairSplit(self.img.to(device), self.txt.to(device), self.txt2img.to(device))

    def one_caption_per_image(self, generator: torch.Generator) -> Tensor:
        """Index of one random caption for each image (the candidate pool of coresets)."""
        order = torch.randperm(len(self), generator=generator)
        owner = self.txt2img.cpu()[order]
        first = torch.full((self.num_images,), -1, dtype=torch.long)
        # Reversed scatter: the last write wins, so each image keeps its first shuffled caption.
        first[owner.flip(0)] = order.flip(0)
        return first[first >= 0]


@dataclass
class RetrievalData:
    train: PairSplit
    val: PairSplit
    test: PairSplit
    info: dict = field(default_factory=dict)

    def splits(self) -> dict[str, PairSplit]:
        return {"train": self.train, "val": self.val, "test": self.test}

    @property
    def img_dim(self) -> int:
        return int(self.train.img.shape[1])

    @property
    def txt_dim(self) -> int:
        return int(self.train.txt.shape[1])


def validate_pairs(data: RetrievalData, name: str) -> None:
    """Shapes, caption->image indices and NaNs, checked once before anything trains."""
    for split_name, s in data.splits().items():
        where = f"dataset {name}: {split_name} split"
        check(s.num_images > 0 and len(s) > 0, f"{where} is empty", DataError)
        check(
            s.txt2img.shape == (len(s),),
            f"{where}: txt2img must have one entry per caption",
            DataError,
        )
        check(
            int(s.txt2img.min()) >= 0 and int(s.txt2img.max()) < s.num_images,
            f"{where}: caption -> image indices must lie in [0, {s.num_images})",
            DataError,
        )
        check(
            s.img.shape[1:] == data.train.img.shape[1:],
            f"{where}: image features have shape "
            f"{tuple(s.img.shape[1:])}, the train split {tuple(data.train.img.shape[1:])}",
            DataError,
        )
        check(
            s.txt.shape[1:] == data.train.txt.shape[1:],
            f"{where}: text features differ in size from the train split's",
            DataError,
        )
        for what, t in (("image", s.img), ("text", s.txt)):
            check(
                bool(torch.isfinite(t).all()),
                f"{where}: {what} features contain NaN/inf; "
                "re-extract them (mmc prepare) or drop those items",
                DataError,
            )
