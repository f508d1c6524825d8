"""Why do learned step sizes collapse to the 1e-6 floor? Per-iteration matching loss and
step sizes of short `mmc train` distillations on a repblend_pixel_seeds.py folder.

    nice -n 10 .venv/bin/python scripts/repblend_step_size_probe.py --share outputs/pixel_seeds \\
        --lr-lr 1e-2 --iterations 12

Runs RepBlend in pixel space, LoRS in pixel space (trainable encoder) and RepBlend in feature
space on the same data (the folder, experts and reference model of --share, so nothing is
retrained), with remedy.log_every=1, and prints each iteration's per-branch matching loss
and step sizes. The first iteration's step-size gradient is (0.1 - α₁) / lr_lr (the first
SGD step has no momentum yet).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_repblend_pixel_speed import data_overrides, distill_overrides  # noqa: E402

from mmc.retrieval.distill import at_step_size_floor  # noqa: E402

RUNS = {
    "RepBlend_pixel": ["remedy=repblend"],
    "LoRS_pixel": ["remedy=repblend_lors"],
    "RepBlend_feature": ["remedy=repblend", "remedy.space=feature"],
}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--share", type=Path, default=Path("outputs/pixel_seeds"))
    p.add_argument("--out", type=Path, default=Path("outputs/step_size_probe"))
    p.add_argument("--lr-lr", type=float, default=1e-2)
    p.add_argument("--iterations", type=int, default=12)
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    args = p.parse_args()
    share, out = args.share.resolve(), args.out.resolve()
    settings = json.loads((share / "pixel_seeds.json").read_text())["settings"]
    mmc = str(Path(sys.executable).with_name("mmc"))
    for name in args.runs:
        run_dir = out / f"{name}_lr{args.lr_lr:g}"
        cmd = [
            mmc, "train", *data_overrides(share / "flickr", share, settings["image_size"], settings["width"]),
            f"data.num_pairs={settings['pairs']}", "train.epochs=1",
            *distill_overrides(share, args.iterations, settings["experts"], settings["expert_epochs"]),
            *RUNS[name], f"remedy.lr_img={settings['lr_img']}", f"remedy.lr_txt={settings['lr_img']}",
            f"remedy.lr_lr={args.lr_lr}", f"remedy.lr_sim={settings['lr_sim']}", "remedy.log_every=1",
            f"run_dir={run_dir}",
        ]  # fmt: skip
        if not (run_dir / "summary.json").exists():
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                print(name, "failed:", (done.stdout + done.stderr).strip().splitlines()[-1:])
                continue
        for line in (run_dir / "distill.jsonl").read_text().splitlines():
            r = json.loads(line)
            a_img, a_txt = r["distill/step_size_image"], r["distill/step_size_text"]
            grad = ""
            if r["distill/iteration"] == 0 and args.lr_lr > 0:
                # At the floor the step only bounds the gradient from below.
                grad = "  dL/dα img/txt " + " / ".join(
                    f">= {(0.1 - a) / args.lr_lr:.1f} (clamped)" if at_step_size_floor(a)
                    else f"{(0.1 - a) / args.lr_lr:.1f}" for a in (a_img, a_txt)
                )  # fmt: skip
            print(f"{name} it {r['distill/iteration']:3d}  loss img {r['distill/loss_image']:10.3f} "
                  f"txt {r['distill/loss_text']:9.3f}  α img {a_img:.5f} txt {a_txt:.5f}{grad}")  # fmt: skip


if __name__ == "__main__":
    main()
