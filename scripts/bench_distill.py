"""Distillation speed: iterations/s in feature space, and symmetric-head vs full-encoder
matching in pixel space (RepBlend reports up to 6.7x faster distillation).

    .venv/bin/python scripts/bench_distill.py            # CPU, the paper's feature sizes
    .venv/bin/python scripts/bench_distill.py --quick    # fewer timed iterations

Speed does not depend on what the experts learned, so each bank holds one synthetic expert
segment (the model's initial parameters and a nudged copy); everything else (inner steps,
TESLA replay, soft similarity, blending, per-branch matching) is the real code path.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from mmc.retrieval.distill import Distiller, DistillSettings
from mmc.retrieval.model import DualEncoder


class OneSegmentBank:
    def __init__(self, model: nn.Module) -> None:
        g = torch.Generator().manual_seed(0)
        start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        end = {
            n: p + 0.01 * torch.randn(p.shape, generator=g).to(p.device) for n, p in start.items()
        }
        self.snaps = [start, end]

    def __len__(self) -> int:
        return 1

    def get(self, i: int):
        return self.snaps


def small_cnn(width: int, out_dim: int) -> nn.Module:
    """A 4-block ConvNet (the size of MTT's ConvNet-D4) as the pixel-space image encoder."""
    layers, c = [], 3
    for i in range(4):
        w = width * 2 ** min(i, 2)
        layers += [nn.Conv2d(c, w, 3, padding=1), nn.GroupNorm(w, w), nn.ReLU(), nn.AvgPool2d(2)]
        c = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, out_dim))


def time_iterations(model, img, txt, settings, timed: int) -> float:
    """Seconds per distillation iteration (after one warm-up iteration). On CPU this is the
    process's CPU time, so that other jobs sharing the cores do not inflate it; on CUDA it is
    wall time after synchronising."""
    gen = torch.Generator().manual_seed(0)
    d = Distiller(model, img, txt, settings, gen)
    bank = OneSegmentBank(model)
    d.iteration(bank)
    if img.is_cuda:
        torch.cuda.synchronize()
    clock = time.perf_counter if img.is_cuda else time.process_time
    t0 = clock()
    for _ in range(timed):
        d.iteration(bank)
    if img.is_cuda:
        torch.cuda.synchronize()
    return (clock() - t0) / timed


def feature_space(pairs: list[int], timed: int, device: torch.device) -> list[dict]:
    rows = []
    for n in pairs:
        for symmetric, blend in ((False, False), (True, True)):
            torch.manual_seed(0)
            model = DualEncoder(2304, 768, 2304).to(device)
            s = DistillSettings(
                syn_steps=8, batch_syn=20, symmetric=symmetric, blend=blend, max_start_epoch=0
            )
            sec = time_iterations(
                model,
                torch.randn(n, 2304, device=device),
                torch.randn(n, 768, device=device),
                s,
                timed,
            )
            rows.append({"space": "feature", "pairs": n, "method": "RepBlend" if symmetric else "LoRS-like",
                         "s_per_it": sec, "it_per_s": 1.0 / sec})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def pixel_space(n: int, size: int, width: int, timed: int, device: torch.device) -> list[dict]:
    """Full-encoder matching (the encoder trains and is matched, one joint term: LoRS) vs
    symmetric head matching (encoder frozen, both heads matched: RepBlend)."""
    rows = []
    for mode in ("full-encoder", "symmetric-heads"):
        torch.manual_seed(0)
        enc = small_cnn(width, 256)
        model = DualEncoder(256, 768, 256, image_encoder=enc).to(device)
        symmetric = mode == "symmetric-heads"
        if symmetric:
            model.image_encoder.requires_grad_(False)
        s = DistillSettings(
            syn_steps=8, batch_syn=20, symmetric=symmetric, blend=symmetric, max_start_epoch=0
        )
        img = torch.randn(n, 3, size, size, device=device)
        sec = time_iterations(model, img, torch.randn(n, 768, device=device), s, timed)
        rows.append(
            {
                "space": f"pixel {size}x{size}",
                "pairs": n,
                "method": mode,
                "s_per_it": sec,
                "it_per_s": 1.0 / sec,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    rows.append({"space": f"pixel {size}x{size}", "pairs": n, "method": "speed-up (full / symmetric)",
                 "ratio": rows[0]["s_per_it"] / rows[1]["s_per_it"]})  # fmt: skip
    print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="2 timed iterations instead of 5")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (CPU time is summed over them)"
    )
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--out", default=None, help="write the rows as JSON here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    timed = 2 if args.quick else 5
    rows = feature_space([100, 500], timed, device)
    rows += pixel_space(100, args.image_size, args.width, timed, device)
    print(f"\n{'space':<14} {'pairs':>5}  {'method':<28} {'s/it':>8} {'it/s':>8}")
    for r in rows:
        if "ratio" in r:
            print(
                f"{r['space']:<14} {r['pairs']:>5}  {r['method']:<28} {'':>8} {r['ratio']:>7.2f}x"
            )
        else:
            print(
                f"{r['space']:<14} {r['pairs']:>5}  {r['method']:<28} {r['s_per_it']:>8.3f} {r['it_per_s']:>8.3f}"
            )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                {"device": str(device), "threads": torch.get_num_threads(), "rows": rows},
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
