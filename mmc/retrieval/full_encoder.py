"""LoRS in pixel space through `mmc train`: the trainable image encoder in the loop.

`remedy=repblend_lors remedy.space=pixel` (symmetric=false in pixel space): every split is
loaded as pixels, the dual encoder carries `dataset.source.image_encoder` *trainable* in
front of its image head, and everything downstream runs on that model unchanged — the
experts train the encoder (its parameters are in every snapshot), distillation matches the
encoder's trajectory together with the heads' (the asymmetric matching RepBlend replaces),
and evaluation trains encoder and heads on the distilled pixels and retrieves real test
images through the trained encoder. RepBlend's symmetric pixel path (`symmetric=true`)
keeps the encoder frozen and matches the heads only; the two runs' `timing.distill_s` give
the symmetric / full-encoder speed ratio on the same data.

Pixels of all splits are held in memory (tiny Karpathy folders or a GPU host; not Flickr
at 224² on a laptop).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from mmc.config.build import build
from mmc.retrieval.features import load_image
from mmc.retrieval.karpathy import load_split
from mmc.retrieval.model import DualEncoder
from mmc.retrieval.pairs import PairSplit, RetrievalData


def uses_full_encoder(remedy) -> bool:
    return getattr(remedy, "space", "feature") == "pixel" and not remedy.settings.symmetric


def load_split_pixels(cfg: DictConfig, split: str, size: int) -> torch.Tensor:
    src = cfg.dataset.source
    root = Path(str(src.root)).expanduser()
    paths = load_split(root, src.name, split, src.get("max_words", 30)).images
    return torch.from_numpy(np.stack([load_image(root / p, size) for p in paths]))


def full_encoder_setup(
    cfg: DictConfig, data: RetrievalData, make_model: Callable[[], DualEncoder], device
) -> tuple[RetrievalData, Callable[[], DualEncoder]]:
    """Pixel splits (same captions and caption -> image maps) and a model factory whose
    image encoder trains."""
    enc_cfg = cfg.dataset.source.image_encoder

    def make() -> DualEncoder:
        model = make_model()
        model.image_encoder = build(enc_cfg, "dataset.source.image_encoder")
        model.image_encoder.requires_grad_(True).train()
        return model

    size = int(getattr(make().image_encoder, "image_size", 224))
    splits = {}
    for name, split in data.splits().items():
        pixels = load_split_pixels(cfg, name, size).to(device)
        splits[name] = PairSplit(pixels, split.txt, split.txt2img)
    out = RetrievalData(**splits)
    out.info = {**data.info, "space": "pixel", "image_encoder": "trainable"}
    return out, make
