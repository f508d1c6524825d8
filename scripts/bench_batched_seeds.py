"""Batched seeds (`mmc train seeds=[...]`) against one `mmc train seed=<s>` process per seed.

Both sides run the same experiment (the default unless overrides are given, logger=none) for
the same seeds, as fresh `mmc train` processes, so start-up is counted on both. The two are
interleaved (separate, batched, batched, separate, ...) so that load drift on a shared machine
favours neither; medians over --repeats are reported with the load average. Afterwards each
seed's batched test metrics are compared with its separate run's.

    python scripts/bench_batched_seeds.py [--seeds 5] [--repeats 2] [--threads 1] [overrides ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MMC = [sys.executable, "-m", "mmc.cli", "train"]


def run(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    seeds = list(range(args.seeds))
    common = ["logger=none", "progress=false", *args.overrides]
    tmp = Path(tempfile.mkdtemp(prefix="mmc-bench-seeds-"))
    times: dict[str, list[float]] = {"separate": [], "batched": []}
    try:
        for r in range(args.repeats):
            order = ["separate", "batched"] if r % 2 == 0 else ["batched", "separate"]
            for kind in order:
                out = tmp / f"{kind}{r}"
                if kind == "separate":
                    t = sum(
                        run([*MMC, *common, f"seed={s}", f"run_dir={out}/seed{s}"], env)
                        for s in seeds
                    )
                else:
                    seeds_arg = "seeds=[" + ",".join(map(str, seeds)) + "]"
                    t = run([*MMC, *common, seeds_arg, f"run_dir={out}"], env)
                times[kind].append(t)
                print(f"repeat {r}: {kind:8s} {t:7.1f} s", flush=True)
        worst = 0.0
        for s in seeds:
            a = json.loads((tmp / "batched0" / f"seed{s}" / "summary.json").read_text())
            b = json.loads((tmp / "separate0" / f"seed{s}" / "summary.json").read_text())
            for k, v in b["test"].items():
                worst = max(worst, abs(a["test"][k] - v))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sep, bat = statistics.median(times["separate"]), statistics.median(times["batched"])
    print(f"threads per process          {args.threads}")
    print(f"load average (1 min)         {os.getloadavg()[0]:.2f}")
    print(f"{args.seeds} separate processes         {sep:8.1f} s (median of {args.repeats})")
    print(f"one batched process          {bat:8.1f} s")
    print(f"speed-up                     {sep / bat:8.2f} x   (target >= 3)")
    print(f"max |test metric difference| {worst:.2e} (batched vs separate, per seed)")


if __name__ == "__main__":
    main()
