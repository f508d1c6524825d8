"""Collapse measured as the paper does: every set embedded by one fixed reference model.

The reference model is a dual encoder trained on all real training pairs with the experts'
recipe (symmetric contrastive loss, plain SGD), i.e. a final expert, cached on disk under
the data and model fingerprint so every run on the same data (coresets, LoRS, RepBlend, any
size or seed) is measured by the same model. Real pairs, the initial pairs and the training
set each get intra-modal cosine, concentration ratio (against the real pairs' mean
intra-modal cosine under that model) and modality gap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from mmc.retrieval.collapse import collapse_metrics
from mmc.retrieval.model import DualEncoder
from mmc.retrieval.pairs import PairSplit
from mmc.retrieval.trajectories import fingerprint, train_expert

log = logging.getLogger("mmc")
DEFAULTS = {"epochs": 10, "lr": 0.1, "batch_size": 128, "dir": "outputs/experts", "seed": 0}


def reference_model(
    make_model: Callable[[], DualEncoder],
    data: PairSplit,
    settings: dict,
    device: torch.device,
    model_key: dict | None = None,
) -> tuple[DualEncoder, str]:
    """The fixed reference model (trained once, then loaded) and its cache path."""
    s = {**DEFAULTS, **settings}
    key_src = {
        "data": fingerprint(data.img, data.txt, data.txt2img),
        "model": model_key or {},
        "recipe": {k: s[k] for k in ("epochs", "lr", "batch_size", "seed")},
    }
    key = hashlib.sha1(json.dumps(key_src, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = Path(str(s["dir"])) / f"reference-{key}.pt"
    torch.manual_seed(int(s["seed"]))
    model = make_model().to(device)
    if path.exists():
        state = torch.load(path, map_location=device, weights_only=True)
    else:
        gen = torch.Generator().manual_seed(int(s["seed"]))
        snaps = train_expert(
            model, data, int(s["epochs"]), float(s["lr"]), int(s["batch_size"]), 0, gen,
            final=True, desc="reference model",
        )  # fmt: skip
        state = snaps[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{path.name}.{os.getpid()}.tmp"  # concurrent runs
        torch.save(state, tmp)
        tmp.replace(path)
        log.info("reference model for the collapse metrics -> %s", path)
    model.load_state_dict({k: v.to(device) for k, v in state.items()}, strict=False)
    return model.eval(), str(path)


def reference_stats(real_metrics: dict[str, float]) -> dict[str, float]:
    """The real pairs' mean intra-modal cosines and their sds: the concentration ratio's
    threshold and the standardised shift's unit (mmc.retrieval.collapse)."""
    return {
        "image": real_metrics["intra_cos/image"],
        "text": real_metrics["intra_cos/text"],
        "image_sd": real_metrics["intra_cos_sd/image"],
        "text_sd": real_metrics["intra_cos_sd/text"],
    }


@torch.no_grad()
def _embed(model: DualEncoder, img: Tensor, txt: Tensor, batch: int) -> tuple[Tensor, Tensor]:
    i = torch.cat([model.encode_image(img[k : k + batch]) for k in range(0, len(img), batch)])
    t = torch.cat([model.encode_text(txt[k : k + batch]) for k in range(0, len(txt), batch)])
    return i, t


def fixed_probe(
    model: DualEncoder, real: tuple[Tensor, Tensor], batch: int
) -> tuple[dict[str, float], Callable[[Tensor, Tensor], dict[str, float]]]:
    """The real pairs' metrics under the fixed model, and a function that measures any set of
    paired features against them (the real pairs are embedded once, so a distillation can
    measure its synthetic set every few iterations cheaply)."""
    r_img, r_txt = _embed(model, *real, batch)
    real_m = collapse_metrics(r_img, r_txt)
    ref = reference_stats(real_m)

    def measure(img: Tensor, txt: Tensor) -> dict[str, float]:
        return collapse_metrics(*_embed(model, img, txt, batch), ref)

    return real_m, measure


def fixed_collapse(
    model: DualEncoder,
    real: tuple[Tensor, Tensor],
    sets: dict[str, tuple[Tensor, Tensor]],
    batch: int,
) -> dict[str, float]:
    """`fixed/<set>/<metric>` for the real pairs and each named set of paired features."""
    real_m, measure = fixed_probe(model, real, batch)
    out = {f"fixed/real/{k}": v for k, v in real_m.items()}
    for name, (img, txt) in sets.items():
        out.update({f"fixed/{name}/{k}": v for k, v in measure(img, txt).items()})
    return out
