"""Fusion backbones: per-step time, and the synthetic-benchmark matrix (a benchmark, not a test).

Per-step time (default): each backbone with its published defaults (conf/backbone/*.yaml)
plus the shared head, on random per-modality embeddings with requires_grad (so the gradient
back to the encoders is included): forward, auxiliary losses, backward and an Adam step, at
batch 512, 4 modalities, 128-d, on CPU.

    .venv/bin/python scripts/bench_backbones.py [--threads 1] [--missing 0 0.5]

Matrix (--matrix): mmc.train.train on the synthetic benchmark for every backbone with
dataset.source.n_modalities in 2, 3, 5 and data.missing_rate in 0, 0.5, 0.9; prints the test
accuracy (chance = 0.1) and whether any loss or metric was not finite.

    .venv/bin/python scripts/bench_backbones.py --matrix [--epochs 15] [--backbones muse grape]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from mmc.config.build import build
from mmc.data.batch import Batch
from mmc.diagnostics.metrics import task_loss
from mmc.models.model import make_head

CONF = Path(__file__).resolve().parents[1] / "conf" / "backbone"
BACKBONES = ["concat", "late", "muse", "grape", "m3care", "shaspec"]


def step_time(name: str, batch: int, mods: int, dim: int, missing: float, repeats: int) -> float:
    torch.manual_seed(0)
    names = [f"m{i}" for i in range(mods)]
    backbone = build(
        OmegaConf.load(CONF / f"{name}.yaml"), "backbone", modalities=names, dim=dim, num_outputs=10
    )
    head = make_head(backbone.out_dim, 64, 10)
    params = [*backbone.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    backbone.train()
    mask = {m: torch.rand(batch) >= missing for m in names}
    mask[names[0]] |= ~torch.stack(list(mask.values()), 1).any(1)  # one modality per row
    base = {m: torch.randn(batch, dim) for m in names}
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        emb = {m: torch.where(mask[m][:, None], base[m], 0.0).requires_grad_() for m in names}
        b = Batch(x=emb, mask=mask, y=y, labelled=torch.ones(batch, dtype=torch.bool))
        out = backbone(emb, mask, b)
        logits = out.logits if out.logits is not None else head(out.z)
        loss = task_loss(logits, y, b.labelled, "multiclass") + sum(out.losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def timing(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    print(
        f"per-step time (ms, median of {args.repeats}), batch {args.batch}, "
        f"{args.mods} modalities, {args.dim}-d, {args.threads} CPU thread(s)"
    )
    print(f"{'backbone':10s}" + "".join(f"  missing={r:<4}" for r in args.missing))
    for name in args.backbones or BACKBONES:
        row = [
            step_time(name, args.batch, args.mods, args.dim, r, args.repeats) for r in args.missing
        ]
        print(f"{name:10s}" + "".join(f"  {t:12.1f}" for t in row), flush=True)


def matrix(args: argparse.Namespace) -> None:
    from mmc.config.compose import compose_config
    from mmc.train import train

    logging.disable(logging.WARNING)
    torch.set_num_threads(args.threads)
    rates, counts = (0.0, 0.5, 0.9), (2, 3, 5)
    print(
        f"test accuracy on the synthetic benchmark (chance 0.1), {args.epochs} epochs, "
        f"n_train {args.n_train}, lr {args.lr}, batch {args.batch_size}; * = non-finite"
    )
    print(
        f"{'backbone':10s}"
        + "".join(f"  M={c} r={r:<3}" for c in counts for r in rates)
        + "   seconds"
    )
    for name in args.backbones or ["muse", "grape", "m3care", "shaspec"]:
        cells, t0 = [], time.perf_counter()
        for c in counts:
            for r in rates:
                with tempfile.TemporaryDirectory() as run_dir:
                    cfg = compose_config([
                        "logger=none", "progress=false", f"backbone={name}", f"run_dir={run_dir}",
                        f"dataset.source.n_modalities={c}", f"data.missing_rate={r}",
                        f"dataset.source.n_train={args.n_train}", "dataset.source.n_val=500",
                        "dataset.source.n_test=1000", f"train.epochs={args.epochs}",
                        f"train.lr={args.lr}", f"train.batch_size={args.batch_size}",
                        "diagnostics.unimodal=false", "diagnostics.every=0",
                    ])  # fmt: skip
                    with contextlib.redirect_stdout(io.StringIO()):
                        s = train(cfg)
                    finite = all(math.isfinite(v) for v in s["test"].values())
                    cells.append(f"{s['test']['accuracy']:.3f}{'' if finite else '*'}")
        print(
            f"{name:10s}"
            + "".join(f"  {v:>11s}" for v in cells)
            + f"   {time.perf_counter() - t0:7.0f}",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--matrix", action="store_true")
    p.add_argument("--backbones", nargs="*")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--mods", type=int, default=4)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--missing", type=float, nargs="+", default=[0.0, 0.5])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--n-train", type=int, default=1500)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    matrix(args) if args.matrix else timing(args)


if __name__ == "__main__":
    main()
