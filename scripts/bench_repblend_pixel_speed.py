"""Symmetric (frozen encoder, heads matched) vs full-encoder (LoRS) distillation speed,
measured from `mmc train` runs in pixel space on the same generated Karpathy folder.

    nice -n 10 .venv/bin/python scripts/bench_repblend_pixel_speed.py --out outputs/pixel_speed

Both runs distil the same pairs for the same iterations; the ratio is full-encoder
`timing.distill_s` / symmetric `timing.distill_s` (the experts are trained before the timed
loop in both and not counted). Image encoder: TinyCNN (a small ConvNet) at --image-size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def make_folder(
    root: Path, n_train: int, image_size: int, n_eval: int = 20, concepts: int = 6
) -> None:
    """A Flickr-format folder: class-coloured images, captions naming the class; `n_eval`
    images in each of val and test. `concepts` classes (at most 36: 6 first words x 6 second
    words); with 6, every image of a class is the same concept, and retrieval can do no
    better than picking the class (a ceiling every method reaches quickly)."""
    if not 1 <= concepts <= 36:
        raise ValueError(f"concepts={concepts}: use 1 to 36")
    from PIL import Image

    rng = np.random.default_rng(0)
    words = [
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
    (root / "flickr30k-images").mkdir(parents=True, exist_ok=True)
    count = 0
    for split, n in (("train", n_train), ("val", n_eval), ("test", n_eval)):
        entries = []
        for _ in range(n):
            cls = count % concepts
            colour = np.array([(cls * 40) % 256, (cls * 90) % 256, (cls * 150) % 256], np.float32)
            px = np.clip(colour + rng.normal(0, 30, (image_size, image_size, 3)), 0, 255)
            rel = f"flickr30k-images/{count:06d}.png"
            Image.fromarray(px.astype(np.uint8)).save(root / rel)
            # 6 concepts: words[c], words[c + 6], as before; more: every (first, second) pair.
            first, second = words[cls % 6], words[6 + (cls % 6 + cls // 6) % 6]
            caps = [f"a {first} and {second} {j}" for j in range(5)]
            if split == "train":
                entries += [{"image": rel, "caption": c, "image_id": str(count)} for c in caps]
            else:
                entries.append({"image": rel, "caption": caps})
            count += 1
        (root / f"flickr30k_{split}.json").write_text(json.dumps(entries))


def data_overrides(root: Path, out: Path, image_size: int, width: int) -> list[str]:
    """`mmc train` overrides for pixel-space runs on the generated folder `root`: TinyCNN
    image encoder (width `width`, `image_size`²), hashed bag-of-words text, 64-d heads, CPU,
    the fixed collapse reference model cached under `out/ref`."""
    return [
        "dataset=flickr30k", f"dataset.root={root}", "logger=none", "progress=false",
        "~dataset.source.image_encoder",
        f"+dataset.source.image_encoder={{_target_:mmc.retrieval.features.TinyCNN,out_dim:64,"
        f"image_size:{image_size},width:{width}}}",
        "~dataset.source.text_encoder",
        "+dataset.source.text_encoder={_target_:mmc.retrieval.features.HashedBagOfWords,dim:64}",
        "dataset.source.device=cpu", "dataset.model.embed_dim=64",
        f"dataset.collapse_reference.dir={out / 'ref'}", "dataset.collapse_reference.epochs=2",
    ]  # fmt: skip


def distill_overrides(out: Path, iterations: int, experts: int, expert_epochs: int) -> list[str]:
    """The remedy.* overrides of a pixel-space distillation run (experts cached in out/experts)."""
    return [
        "remedy.space=pixel", f"remedy.iterations={iterations}", f"remedy.num_experts={experts}",
        f"remedy.expert_train_epochs={expert_epochs}", f"remedy.expert_dir={out / 'experts'}",
    ]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=Path("outputs/pixel_speed"))
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--iterations", type=int, default=20)
    args = p.parse_args()
    out = args.out.resolve()
    root = out / "flickr"
    if not (root / "flickr30k_train.json").exists():
        make_folder(root, 120, args.image_size)
    mmc = str(Path(sys.executable).with_name("mmc"))
    common = data_overrides(root, out, args.image_size, args.width) + [
        f"data.num_pairs={args.pairs}", "train.epochs=2",
        *distill_overrides(out, args.iterations, experts=2, expert_epochs=3),
        # Small, equal lrs on both sides: Flickr-100's lr_img = 100 on raw pixels makes the
        # full-encoder run diverge; timing, not quality, is measured here.
        "remedy.lr_img=1", "remedy.lr_txt=1", "remedy.lr_lr=1e-4",
    ]  # fmt: skip
    result = {}
    for name, remedy in (
        ("symmetric", "remedy=repblend"),
        ("full_encoder", "remedy=repblend_lors"),
    ):
        run_dir = out / name
        subprocess.run([mmc, "train", remedy, *common, f"run_dir={run_dir}"], check=True)
        s = json.loads((run_dir / "summary.json").read_text())
        result[name] = {"distill_s": s["timing"]["distill_s"], "r_mean": s["test"]["r_mean"]}
    ratio = result["full_encoder"]["distill_s"] / result["symmetric"]["distill_s"]
    result["speed_ratio_full_over_symmetric"] = ratio
    result["args"] = {k: str(v) for k, v in vars(args).items()}
    (out / "speed.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
