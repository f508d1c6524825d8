"""Karpathy-split annotation files of Flickr-30K and MS-COCO, in either distribution.

- Per-split files as distributed for BLIP/LAVIS (flickr30k_{train,val,test}.json,
  coco_karpathy_*.json). Train files hold one entry per caption ({"image", "caption": str,
  "image_id"}); val/test files one entry per image ({"image", "caption": [5 strings]}). Both
  shapes are accepted in every split.
- Karpathy's original single file (dataset_flickr30k.json, dataset_coco.json):
  {"images": [{"filename", "filepath"?, "split", "sentences": [{"raw", ...}]}]}, used when
  the per-split files are absent. Its "restval" images (COCO) belong to train, as in the
  Karpathy split everyone reports; image paths are filepath/filename (COCO) or
  flickr30k-images/filename (Flickr, when that folder exists under the root).
Image ids are mapped to contiguous integers in order of first appearance.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mmc.errors import ConfigError, DataError, check

SPLIT_FILES = {
    "flickr30k": {s: f"flickr30k_{s}.json" for s in ("train", "val", "test")},
    "mscoco": {s: f"coco_karpathy_{s}.json" for s in ("train", "val", "test")},
}
ORIGINAL_FILES = {"flickr30k": "dataset_flickr30k.json", "mscoco": "dataset_coco.json"}
# Which of the original file's split labels make up each split.
ORIGINAL_SPLITS = {"train": ("train", "restval"), "val": ("val",), "test": ("test",)}
_PUNCT = re.compile(r"[^\w\s]")


def preprocess_caption(text: str, max_words: int) -> str:
    """Lowercase, punctuation removed, at most `max_words` words (the reference code's steps)."""
    words = _PUNCT.sub(" ", str(text).lower()).split()
    return " ".join(words[:max_words])


@dataclass
class KarpathySplit:
    images: list[str]  # image paths relative to the image root
    captions: list[str]
    txt2img: list[int]


def annotation_path(root: Path, name: str, split: str) -> Path:
    if name not in SPLIT_FILES:
        raise ConfigError(
            f"no Karpathy split files known for {name!r}; use one of: {', '.join(SPLIT_FILES)}"
        )
    fname = SPLIT_FILES[name][split]
    for candidate in (root / fname, root / "annotations" / fname):
        if candidate.exists():
            return candidate
    original = ORIGINAL_FILES[name]
    for candidate in (root / original, root / "annotations" / original):
        if candidate.exists():
            return candidate
    raise DataError(
        f"{fname} not found in {root} or {root / 'annotations'} (nor Karpathy's original "
        f"{original}); put the Karpathy-split JSON files there, or point dataset.root at "
        "their folder"
    )


def _load_original(path: Path, root: Path, split: str, max_words: int, entries) -> KarpathySplit:
    """Karpathy's original dataset_*.json: the images of `split` (train includes restval)."""
    images = entries.get("images") if isinstance(entries, dict) else None
    check(
        isinstance(images, list) and images,
        f"{path}: expected {{'images': [...]}} (Karpathy's original format)",
        DataError,
    )
    flickr_dir = root / "flickr30k-images"
    out = KarpathySplit([], [], [])
    wanted = ORIGINAL_SPLITS[split]
    for k, im in enumerate(images):
        check(
            isinstance(im, dict) and "filename" in im and "split" in im and "sentences" in im,
            f"{path}: image {k} lacks 'filename', 'split' or 'sentences'",
            DataError,
        )
        if im["split"] not in wanted:
            continue
        if im.get("filepath"):
            rel = f"{im['filepath']}/{im['filename']}"
        elif flickr_dir.is_dir():
            rel = f"flickr30k-images/{im['filename']}"
        else:
            rel = str(im["filename"])
        sentences = [s["raw"] for s in im["sentences"] if isinstance(s, dict) and "raw" in s]
        check(len(sentences) > 0, f"{path}: image {im['filename']} has no sentences", DataError)
        idx = len(out.images)
        out.images.append(rel)
        for c in sentences:
            out.captions.append(preprocess_caption(c, max_words))
            out.txt2img.append(idx)
    check(len(out.images) > 0, f"{path}: no images with split {'/'.join(wanted)}", DataError)
    return out


def load_split(root: str | Path, name: str, split: str, max_words: int = 30) -> KarpathySplit:
    path = annotation_path(Path(root), name, split)
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(
            f"{path} is not readable JSON ({e}); re-download the Karpathy split file"
        ) from None
    if path.name in ORIGINAL_FILES.values():
        return _load_original(path, Path(root), split, max_words, entries)
    check(
        isinstance(entries, list) and entries,
        f"{path}: expected a non-empty JSON list of entries",
        DataError,
    )
    index: dict[str, int] = {}
    out = KarpathySplit([], [], [])
    for k, e in enumerate(entries):
        check(
            isinstance(e, dict) and "image" in e and "caption" in e,
            f"{path}: entry {k} lacks 'image' or 'caption'; is this a Karpathy split file?",
            DataError,
        )
        key = str(e.get("image_id", e["image"])) if isinstance(e["caption"], str) else e["image"]
        if key not in index:
            index[key] = len(out.images)
            out.images.append(e["image"])
        captions = [e["caption"]] if isinstance(e["caption"], str) else list(e["caption"])
        check(len(captions) > 0, f"{path}: entry {k} ({e['image']}) has no captions", DataError)
        for c in captions:
            out.captions.append(preprocess_caption(c, max_words))
            out.txt2img.append(index[key])
    return out
