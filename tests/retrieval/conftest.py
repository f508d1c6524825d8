"""Tiny Karpathy-format folders (generated images, 5 captions each) for retrieval tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

WORDS = [
    "dog",
    "cat",
    "red",
    "blue",
    "car",
    "tree",
    "man",
    "woman",
    "runs",
    "sits",
    "beach",
    "snow",
]


def make_karpathy(
    root: Path, name: str = "flickr30k", sizes=(12, 4, 4), image_size: int = 24
) -> Path:
    """Images whose colour and caption words share a latent class, so retrieval is learnable."""
    from PIL import Image

    rng = np.random.default_rng(0)
    prefix = "flickr30k-images" if name == "flickr30k" else "val2014"
    (root / prefix).mkdir(parents=True, exist_ok=True)
    files = {"flickr30k": "flickr30k_{}.json", "mscoco": "coco_karpathy_{}.json"}[name]
    count = 0
    for split, n in zip(("train", "val", "test"), sizes):
        entries = []
        for _ in range(n):
            cls = count % 6
            colour = np.array(
                [(cls * 40) % 256, (cls * 90) % 256, (cls * 150) % 256], dtype=np.float32
            )
            pixels = np.clip(
                colour + rng.normal(0, 20, (image_size, image_size, 3)), 0, 255
            ).astype(np.uint8)
            ext = "jpg" if count % 2 else "png"
            rel = f"{prefix}/{count:06d}.{ext}"
            Image.fromarray(pixels).save(root / rel)
            caps = [f"A {WORDS[cls]} and {WORDS[cls + 6]}, picture {j}!" for j in range(5)]
            if split == "train":
                entries += [{"image": rel, "caption": c, "image_id": f"img_{count}"} for c in caps]
            else:
                entries.append({"image": rel, "caption": caps})
            count += 1
        (root / files.format(split)).write_text(json.dumps(entries))
    return root


@pytest.fixture
def karpathy_root(tmp_path) -> Path:
    return make_karpathy(tmp_path / "flickr")


# Tiny encoders instead of NFNet/BERT: a seeded random CNN and hashed bag of words.
TINY_ENCODERS = [
    "dataset.root={root}",
    "~dataset.source.image_encoder",
    "+dataset.source.image_encoder={{_target_:mmc.retrieval.features.TinyCNN,out_dim:16,image_size:24}}",
    "~dataset.source.text_encoder",
    "+dataset.source.text_encoder={{_target_:mmc.retrieval.features.HashedBagOfWords,dim:32}}",
    "dataset.source.device=cpu",
    "dataset.model.embed_dim=16",
]


@pytest.fixture
def tiny_encoders() -> list[str]:
    return list(TINY_ENCODERS)
