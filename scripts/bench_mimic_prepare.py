"""Benchmark: MIMIC-IV preparation throughput and peak memory as `labevents` grows.

For each size, MIMIC-schema tables are generated (scripts/make_mimic_tables.py; reused when
already there) and the full preparation runs in a fresh subprocess that reports its own peak
resident memory (getrusage ru_maxrss: DuckDB's native allocations included). For comparison,
a whole-table `pandas.read_csv` of labevents runs the same way at one size.

    python scripts/bench_mimic_prepare.py --sizes 1e6 1e7 3e7 --work /tmp/mimic-bench [--pandas-at 1e7]

Prints a table (peak RSS, rows/s, the peak-RSS ratio of the largest to the smallest size) and
writes JSON to --json. `--memory-limit` defaults to dataset.memory_limit's default. Timings on a
shared machine are noisy: say how many cores were free when quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PREPARE = """
import json, resource, sys, time, logging
from mmc.data.mimic.prepare import prepare_mimic
t = time.perf_counter()
kw = {} if sys.argv[4] == "default" else {"memory_limit": sys.argv[4]}
s = prepare_mimic(root=sys.argv[1], cache_dir=sys.argv[2], rebuild=True, threads=int(sys.argv[3]),
                  **kw)
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - t, "timing": s["timing_s"], "cpu": s["cpu_s"],
                  "stage_peak_rss_mib": s["peak_rss_mib"], "lab_features": s["details"]["labs"]["features"],
                  "cpu_total_s": ru.ru_utime + ru.ru_stime,
                  "lab_rows_kept": s["details"]["labs"]["rows_kept"], "admissions": s["cohort"]["admissions"],
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

PANDAS = """
import json, resource, sys, time
import pandas as pd
t = time.perf_counter()
df = pd.read_csv(sys.argv[1])
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(df), "cpu_total_s": ru.ru_utime + ru.ru_stime,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_child(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_tables(work: Path, rows: int, patients: int | None) -> tuple[Path, float | None]:
    root = work / (f"labs-{rows}" if patients is None else f"labs-{rows}-patients-{patients}")
    done = root / "GENERATED"
    if done.exists():
        return root, None
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_mimic_tables.py"), "--out", str(root),
         "--lab-rows", str(rows), *(["--patients", str(patients)] if patients else [])],
        check=True,
    )  # fmt: skip
    done.write_text("ok\n")
    return root, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7, 3e7])
    p.add_argument("--pandas-at", type=float, default=0, help="e.g. 1e7: also time pandas.read_csv")
    p.add_argument("--work", type=Path, default=Path("/tmp/mimic-bench"))
    p.add_argument("--threads", type=int, default=2)
    # A fixed cohort isolates what grows with the event tables from what grows with the
    # cohort (the per-admission arrays): by default the generator scales patients with rows.
    p.add_argument("--patients", type=int, default=None, help="fixed cohort size for every size")
    p.add_argument("--memory-limit", default="default", help="default: dataset.memory_limit's")
    p.add_argument("--json", type=Path, default=REPO / "outputs" / "bench" / "mimic_prepare.json")
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in a.sizes:
        rows = int(size)
        root, gen_s = ensure_tables(a.work, rows, a.patients)
        r = run_child(PREPARE, str(root), str(a.work / "cache"), str(a.threads), a.memory_limit)
        scan = r["timing"]["labs_scan"]
        rec = {
            "labevents_rows": rows,
            "gz_mib": round((root / "hosp" / "labevents.csv.gz").stat().st_size / 2**20, 1),
            "admissions_in_cohort": r["admissions"],
            "lab_rows_kept": r["lab_rows_kept"],
            "prepare_s": round(r["seconds"], 1),
            "labs_scan_s": scan,
            "labs_scan_rows_per_s": round(rows / scan),
            # Rows per CPU-second of the scan stage: what an uncontended core would sustain.
            "labs_scan_rows_per_cpu_s": round(rows / max(r["cpu"]["labs_scan"], 1e-9)),
            "prepare_cpu_s": round(r["cpu_total_s"], 1),
            "end_to_end_rows_per_s": round(rows / r["seconds"]),
            "peak_rss_mib": round(r["maxrss_kib"] / 1024),
            "stage_peak_rss_mib": r["stage_peak_rss_mib"],
            "lab_features": r["lab_features"],
            "generate_s": None if gen_s is None else round(gen_s, 1),
            "stages_s": r["timing"],
            "stages_cpu_s": r["cpu"],
        }
        results.append(rec)
        print(json.dumps(rec), flush=True)
    baseline = None
    if a.pandas_at:
        root, _ = ensure_tables(a.work, int(a.pandas_at), a.patients)
        b = run_child(PANDAS, str(root / "hosp" / "labevents.csv.gz"))
        ours = next((r for r in results if r["labevents_rows"] == int(a.pandas_at)), None)
        baseline = {
            "labevents_rows": int(a.pandas_at),
            "pandas_read_s": round(b["seconds"], 1),
            "pandas_cpu_s": round(b["cpu_total_s"], 1),
            "pandas_peak_rss_mib": round(b["maxrss_kib"] / 1024),
        }
        if ours:
            baseline["peak_memory_ratio_pandas_over_ours"] = round(
                baseline["pandas_peak_rss_mib"] / ours["peak_rss_mib"], 2
            )
            baseline["time_ratio_pandas_read_over_our_full_prepare"] = round(
                b["seconds"] / ours["prepare_s"], 2
            )
        print(json.dumps(baseline), flush=True)
    ratio = None
    if len(results) > 1:
        small, large = results[0], results[-1]
        ratio = {
            "sizes": [small["labevents_rows"], large["labevents_rows"]],
            "peak_rss_ratio": round(large["peak_rss_mib"] / small["peak_rss_mib"], 2),
        }
    report = {"cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg(), "threads": a.threads,
              "memory_limit": a.memory_limit, "runs": results, "peak_rss_ratio": ratio,
              "pandas_baseline": baseline}  # fmt: skip
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\n{'rows':>12} {'prepare s':>10} {'scan rows/s':>12} {'rows/cpu-s':>11} {'e2e rows/s':>11} {'peak MiB':>9}"
    )
    for r in results:
        print(f"{r['labevents_rows']:>12,} {r['prepare_s']:>10} {r['labs_scan_rows_per_s']:>12,} "
              f"{r['labs_scan_rows_per_cpu_s']:>11,} {r['end_to_end_rows_per_s']:>11,} {r['peak_rss_mib']:>9}")  # fmt: skip
    if baseline:
        print(f"pandas.read_csv of labevents at {baseline['labevents_rows']:,} rows: "
              f"{baseline['pandas_read_s']} s, peak {baseline['pandas_peak_rss_mib']} MiB")  # fmt: skip
    if ratio:
        print(
            f"peak RSS {ratio['sizes'][1]:,} / {ratio['sizes'][0]:,} rows: {ratio['peak_rss_ratio']}x"
        )
    print(f"written to {a.json}")


if __name__ == "__main__":
    main()
