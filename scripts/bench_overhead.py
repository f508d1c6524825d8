"""Overhead of mmc's training loop against a bare PyTorch loop over the same model and tensors.

Measured in one run, on the default experiment (synthetic data, concat fusion, no remedy):
  - mmc epoch time: train steps + validation + collapse diagnostics at the default cadence +
    checkpoints + metrics.jsonl, as recorded by mmc itself (time/epoch_s), logger=none;
  - bare epoch time: shuffled mini-batches, forward, cross-entropy, backward, Adam step;
  - share of mmc's epoch time spent in diagnostics (time/diagnostics_s).
Targets: ratio <= 1.10, diagnostics share <= 5%.

    python scripts/bench_overhead.py [--epochs 20] [--threads 2] [overrides ...]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mmc.config.compose import compose_config
from mmc.data.build import build_dataset
from mmc.engine.model import build_model
from mmc.train import train


def bare_epochs(model, data, epochs: int, batch_size: int, lr: float) -> list[float]:
    """The loop a researcher would write by hand: no masks, no validation, no diagnostics."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y, mods = data.train.x, data.train.y, data.modalities
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(y), batch_size):
            idx = order[i : i + batch_size]
            z = torch.cat([model.encoders[m](x[m][idx]) for m in mods], dim=-1)
            loss = torch.nn.functional.cross_entropy(model.head(z), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(
            ["logger=none", "progress=false", "diagnostics.unimodal=false",
             f"train.epochs={args.epochs}", f"run_dir={tmp}", *args.overrides]
        )  # fmt: skip
        data = build_dataset(cfg)
        bare_model = copy.deepcopy(build_model(cfg, data))
        # Interleave the two measurements' warm-up so neither profits from a warmer cache.
        bare_epochs(copy.deepcopy(bare_model), data, 2, cfg.train.batch_size, cfg.train.lr)
        bare = bare_epochs(bare_model, data, args.epochs, cfg.train.batch_size, cfg.train.lr)
        train(cfg)
        records = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]

    # Skip the first epoch of each: it pays one-off allocation and dispatch warm-up.
    mmc_epoch = statistics.median(r["time/epoch_s"] for r in records[1:])
    bare_epoch = statistics.median(bare[1:])
    diag = sum(r.get("time/diagnostics_s", 0.0) for r in records[1:])
    total = sum(r["time/epoch_s"] for r in records[1:])
    ratio, share = mmc_epoch / bare_epoch, diag / total
    mmc_train = statistics.median(r["time/train_s"] for r in records[1:])
    print(f"threads                      {args.threads}")
    print(f"epochs measured              {len(records) - 1} (median, first epoch skipped)")
    print(f"bare PyTorch epoch           {bare_epoch * 1e3:8.1f} ms")
    print(f"mmc epoch (all included)     {mmc_epoch * 1e3:8.1f} ms")
    print(f"  of which training steps    {mmc_train * 1e3:8.1f} ms")
    print(f"ratio mmc / bare             {ratio:8.3f}   (target <= 1.10)")
    print(f"diagnostics share of epoch   {share * 100:8.2f} % (target <= 5%)")


if __name__ == "__main__":
    main()
