"""`dataset=synthetic_pairs`: paired image/text features generated from shared latent factors.

Each image has a latent z (a random concept centre plus per-image variation). Its image
feature is a fixed random nonlinear map of z plus noise; each of its captions sees z through
its own caption noise and a different random map. Retrieval therefore needs the two heads to
recover the shared factors, and within-concept images are hard negatives, as in real data.

`anisotropy` > 0 and `offset` > 0 make the features look like pooled CNN / BERT CLS features
rather than isotropic noise: each modality's feature dimensions are scaled by a decaying
spectrum (d^-anisotropy, a random rotation) and shifted by one common per-modality offset
vector (`offset` times the typical feature norm), so raw intra-modal cosines are positive
(≈ 0.09 at offset 0.3, 0.27 at 0.6, 0.6 at 1.2). With both 0 the features are exactly the
isotropic ones of the original setting. A trained dual encoder removes most of the offset:
under the fixed reference model the real pairs' intra-modal cosine is ≈ 0 for anisotropy
≤ 0.5 and 0.27–0.53 only at anisotropy 1 (issue 18, docs/retrieval.md).
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
    anisotropy: float = 0.0,
    offset: float = 0.0,
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
    # A separate generator: the isotropic setting's draws stay exactly as they were.
    shape_gen = torch.Generator().manual_seed(int(seed) + 7_777)

    def shaping(dim: int):
        rot = torch.linalg.qr(torch.randn(dim, dim, generator=shape_gen))[0]
        spectrum = torch.arange(1, dim + 1, dtype=torch.float32) ** (-anisotropy)
        spectrum = spectrum / spectrum.pow(2).mean().sqrt()  # same overall scale
        direction = torch.randn(dim, generator=shape_gen)
        return rot * spectrum, direction / direction.norm()

    img_shape, txt_shape = shaping(img_dim), shaping(txt_dim)

    def shape(x: torch.Tensor, shp) -> torch.Tensor:
        if anisotropy == 0 and offset == 0:
            return x
        mat, direction = shp
        x = x @ mat.T if anisotropy != 0 else x
        return x + offset * x.norm(dim=1).mean() * direction

    def split(n: int) -> PairSplit:
        concept = torch.randint(num_concepts, (n,), generator=gen)
        z = centres[concept] + concept_spread * torch.randn(n, latent_dim, generator=gen)
        img = torch.tanh(z @ a1) @ a2 + feature_noise * torch.randn(n, img_dim, generator=gen)
        txt2img = torch.arange(n).repeat_interleave(captions_per_image)
        zc = z[txt2img] + caption_noise * torch.randn(len(txt2img), latent_dim, generator=gen)
        txt = torch.tanh(zc @ b1) @ b2 + feature_noise * torch.randn(
            len(txt2img), txt_dim, generator=gen
        )
        return PairSplit(shape(img, img_shape).float(), shape(txt, txt_shape).float(), txt2img)

    data = RetrievalData(split(n_train), split(n_val), split(n_test))
    data.info = {
        "images": {s: p.num_images for s, p in data.splits().items()},
        "captions": {s: len(p) for s, p in data.splits().items()},
        "img_dim": img_dim,
        "txt_dim": txt_dim,
    }
    return data
