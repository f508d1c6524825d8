"""`dataset=synthetic_pairs`: paired image/text features generated from shared latent factors.

Each image has a latent z (a random concept centre plus per-image variation). Its image
feature is a fixed random nonlinear map of z plus noise; each of its captions sees z through
its own caption noise and a different random map. Retrieval therefore needs the two heads to
recover the shared factors, and within-concept images are hard negatives, as in real data.
"""

from __future__ import annotations

import math

import torch

from mmc.errors import check
from mmc.retrieval.pairs import PairSplit, RetrievalData


def _mixing(d_in: int, d_out: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(d_in, d_out, generator=gen) / math.sqrt(d_in)


def make_synthetic_pairs(
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 1000,
    captions_per_image: int = 5,
    img_dim: int = 256,
    txt_dim: int = 128,
    latent_dim: int = 32,
    num_concepts: int = 100,
    concept_spread: float = 0.5,
    caption_noise: float = 1.0,
    feature_noise: float = 1.0,
    seed: int = 0,
) -> RetrievalData:
    check(min(n_train, n_val, n_test) > 0, "dataset.source.n_train/n_val/n_test must be > 0")
    check(captions_per_image >= 1, "dataset.source.captions_per_image must be at least 1")
    check(
        min(img_dim, txt_dim, latent_dim, num_concepts) >= 1,
        "dataset.source.img_dim/txt_dim/latent_dim/num_concepts must be at least 1",
    )
    gen = torch.Generator().manual_seed(int(seed))
    centres = torch.randn(num_concepts, latent_dim, generator=gen)
    a1, a2 = _mixing(latent_dim, 2 * img_dim, gen), _mixing(2 * img_dim, img_dim, gen)
    b1, b2 = _mixing(latent_dim, 2 * txt_dim, gen), _mixing(2 * txt_dim, txt_dim, gen)

    def split(n: int) -> PairSplit:
        concept = torch.randint(num_concepts, (n,), generator=gen)
        z = centres[concept] + concept_spread * torch.randn(n, latent_dim, generator=gen)
        img = torch.tanh(z @ a1) @ a2 + feature_noise * torch.randn(n, img_dim, generator=gen)
        txt2img = torch.arange(n).repeat_interleave(captions_per_image)
        zc = z[txt2img] + caption_noise * torch.randn(len(txt2img), latent_dim, generator=gen)
        txt = torch.tanh(zc @ b1) @ b2 + feature_noise * torch.randn(
            len(txt2img), txt_dim, generator=gen
        )
        return PairSplit(img.float(), txt.float(), txt2img)

    data = RetrievalData(split(n_train), split(n_val), split(n_test))
    data.info = {
        "images": {s: p.num_images for s, p in data.splits().items()},
        "captions": {s: len(p) for s, p in data.splits().items()},
        "img_dim": img_dim,
        "txt_dim": txt_dim,
    }
    return data
