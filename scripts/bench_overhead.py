"""Overhead of mmc's training loop against a bare PyTorch loop over the same model and tensors.

Measured in one run, on the default experiment (synthetic data, concat fusion, no remedy):
  - mmc epoch time: train steps + validation + collapse diagnostics at the default cadence +
    checkpoints + metrics.jsonl, as recorded by mmc itself (time/epoch_s), logger=none;
  - bare epoch time: shuffled mini-batches, forward, cross-entropy, backward, Adam step, written
    as a researcher would (torch.optim.Adam with its defaults);
  - "same optimiser" bare epoch: the bare loop with mmc's own optimiser (make_optimizer), so
    that ratio isolates the loop's overhead from mmc's choice of optimiser implementation;
  - share of mmc's epoch time spent in diagnostics (time/diagnostics_s).
The measurements are interleaved: after each mmc epoch (once its time is recorded) one bare
epoch of each kind runs, in alternating order, so load drift on a shared machine hits all of
them alike. Ratios are medians of per-epoch ratios (first epoch skipped) over --repeats runs.
Targets: ratio <= 1.05, diagnostics share <= 5%.

The same ratios are also given in CPU time (time.process_time): on a shared machine a busy
neighbour stretches wall time by whatever it preempts, CPU time much less. mmc's CPU epoch runs
from the end of one epoch's bare runs to the next epoch's record, so it also counts the
logging after mmc's own clock stops (a little in the bare loop's favour).

    python scripts/bench_overhead.py [--epochs 20] [--repeats 3] [--threads 1] [overrides ...]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mmc.config.compose import compose_config
from mmc.data.build import build_dataset
from mmc.engine.model import build_model
from mmc.engine.optim import make_optimizer
from mmc.logging.recorder import RunRecorder
from mmc.runners import classification
from mmc.train import train


class BareLoop:
    """The loop a researcher would write by hand: no masks, no validation, no diagnostics."""

    def __init__(self, model, data, batch_size: int, opt: torch.optim.Optimizer) -> None:
        self.model, self.data, self.batch_size, self.opt = model, data, batch_size, opt
        self.epoch = 0

    def run_epoch(self) -> tuple[float, float]:
        """(wall seconds, CPU seconds) of one epoch."""
        model, opt, bs = self.model, self.opt, self.batch_size
        x, y, mods = self.data.train.x, self.data.train.y, self.data.modalities
        model.train()
        start, cpu = time.perf_counter(), time.process_time()
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.epoch))
        for i in range(0, len(y), bs):
            idx = order[i : i + bs]
            z = torch.cat([model.encoders[m](x[m][idx]) for m in mods], dim=-1)
            loss = torch.nn.functional.cross_entropy(model.head(z), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        self.epoch += 1
        return time.perf_counter() - start, time.process_time() - cpu


def one_run(args, overrides: list[str]) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(
            ["logger=none", "progress=false", "diagnostics.unimodal=false",
             f"train.epochs={args.epochs}", f"run_dir={tmp}", *overrides]
        )  # fmt: skip
        data = build_dataset(cfg)
        model = build_model(cfg, data)
        plain = copy.deepcopy(model)
        same = copy.deepcopy(model)
        loops = {
            "bare": BareLoop(plain, data, cfg.train.batch_size,
                             torch.optim.Adam(plain.parameters(), lr=cfg.train.lr)),
            "bare_same_opt": BareLoop(same, data, cfg.train.batch_size,
                                      make_optimizer(same.parameters(), cfg)),
        }  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in [*loops, *(f"cpu_{k}" for k in loops)]}
        times.update(cpu_mmc=[], cpu_mmc_train=[], cpu_diag=[])
        real_log, real_train_epoch = RunRecorder.log, classification.train_epoch
        real_diagnostics = classification.collapse_diagnostics
        mmc_cpu_from = [time.process_time()]
        diag_cpu = [0.0]  # this epoch's diagnostics so far (the test split's come after the last)

        def log_then_bare(self, record):  # runs after mmc has taken its epoch's time
            real_log(self, record)
            times["cpu_mmc"].append(time.process_time() - mmc_cpu_from[0])
            times["cpu_diag"].append(diag_cpu[0])
            diag_cpu[0] = 0.0
            names = list(loops) if len(times["bare"]) % 2 == 0 else list(loops)[::-1]
            for name in names:
                wall, cpu = loops[name].run_epoch()
                times[name].append(wall)
                times[f"cpu_{name}"].append(cpu)
            mmc_cpu_from[0] = time.process_time()

        def timed_train_epoch(*args, **kwargs):
            cpu = time.process_time()
            out = real_train_epoch(*args, **kwargs)
            times["cpu_mmc_train"].append(time.process_time() - cpu)
            return out

        def timed_diagnostics(*args, **kwargs):
            cpu = time.process_time()
            out = real_diagnostics(*args, **kwargs)
            diag_cpu[0] += time.process_time() - cpu
            return out

        RunRecorder.log = log_then_bare
        classification.train_epoch = timed_train_epoch
        classification.collapse_diagnostics = timed_diagnostics
        try:
            with open(os.devnull, "w") as null, _stdout(null):
                train(cfg)
        finally:
            RunRecorder.log = real_log
            classification.train_epoch = real_train_epoch
            classification.collapse_diagnostics = real_diagnostics
        records = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    times["mmc"] = [r["time/epoch_s"] for r in records]
    times["mmc_train"] = [r["time/train_s"] for r in records]
    times["diag"] = [r.get("time/diagnostics_s", 0.0) for r in records]
    return times


def _stdout(stream):
    import contextlib

    return contextlib.redirect_stdout(stream)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    runs = [one_run(args, args.overrides) for _ in range(args.repeats)]

    # Skip the first epoch of each run: it pays one-off allocation and dispatch warm-up.
    def pooled(key):
        return [v for r in runs for v in r[key][1:]]

    def ratio(a, b):
        return statistics.median(x / y for r in runs for x, y in zip(r[a][1:], r[b][1:]))

    def rest(a, b, c):  # (a - b) / c per epoch: what an epoch spends outside its steps
        return statistics.median(
            (x - y) / z for r in runs for x, y, z in zip(r[a][1:], r[b][1:], r[c][1:])
        )

    med = {k: statistics.median(pooled(k)) for k in ("mmc", "mmc_train", "bare", "bare_same_opt")}
    share = sum(pooled("diag")) / sum(pooled("mmc"))
    print(f"threads                      {args.threads}")
    print(f"load average (1 min)         {os.getloadavg()[0]:.2f}")
    print(f"epochs measured              {args.repeats} x {args.epochs - 1} (interleaved)")
    print(f"bare PyTorch epoch           {med['bare'] * 1e3:8.1f} ms")
    print(f"bare, mmc's optimiser        {med['bare_same_opt'] * 1e3:8.1f} ms")
    print(f"mmc epoch (all included)     {med['mmc'] * 1e3:8.1f} ms")
    print(f"  of which training steps    {med['mmc_train'] * 1e3:8.1f} ms")
    print(f"ratio mmc / bare             {ratio('mmc', 'bare'):8.3f}   (target <= 1.05)")
    print(f"ratio mmc steps / bare       {ratio('mmc_train', 'bare'):8.3f}")
    print(f"ratio mmc / bare same opt    {ratio('mmc', 'bare_same_opt'):8.3f}")
    print(f"(mmc - its steps) / bare     {rest('mmc', 'mmc_train', 'bare'):8.3f}")
    print(f"diagnostics share of epoch   {share * 100:8.2f} % (target <= 5%)")
    print("in CPU time (process_time):")
    print(f"  bare PyTorch epoch         {statistics.median(pooled('cpu_bare')) * 1e3:8.1f} ms")
    print(f"  mmc epoch                  {statistics.median(pooled('cpu_mmc')) * 1e3:8.1f} ms")
    print(f"  ratio mmc / bare           {ratio('cpu_mmc', 'cpu_bare'):8.3f}")
    print(f"  ratio mmc steps / bare     {ratio('cpu_mmc_train', 'cpu_bare'):8.3f}")
    print(f"  ratio mmc / bare same opt  {ratio('cpu_mmc', 'cpu_bare_same_opt'):8.3f}")
    print(f"  (mmc - its steps) / bare   {rest('cpu_mmc', 'cpu_mmc_train', 'cpu_bare'):8.3f}")
    cpu_share = sum(pooled("cpu_diag")) / sum(pooled("cpu_mmc"))
    print(f"  diagnostics share of epoch {cpu_share * 100:8.2f} %")


if __name__ == "__main__":
    main()
