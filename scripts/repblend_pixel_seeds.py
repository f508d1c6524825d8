"""Pixel-space RepBlend vs LoRS over seeds, every run through `mmc train`: does symmetric
projection matching help retrieval, and how much faster is it, on the same runs?

Methods (each one `mmc train` run per seed on one generated Karpathy folder):
  RepBlend    remedy=repblend remedy.space=pixel (frozen encoder, heads matched, blending)
  LoRS        remedy=repblend_lors remedy.space=pixel (symmetric=false: the trainable image
              encoder in the experts and the inner loop; no blending)
  blend_only  remedy=repblend remedy.space=pixel remedy.symmetric=false (blending, full encoder)
  init        remedy=repblend remedy.space=pixel remedy.iterations=0: the initial pairs,
              evaluated as RepBlend's distilled set is (no distillation: the baseline)
  init_lors   the same with remedy=repblend_lors: evaluated as LoRS's set is (the encoder
              trains), the baseline of LoRS and blend_only
  random      remedy=none data.coreset=random (real pairs, frozen encoder's features)
  full        remedy=none (all training pairs, frozen encoder's features)

RepBlend vs blend_only isolates symmetric matching (both blend); LoRS vs blend_only isolates
blending under the full encoder. Writes <out>/pixel_seeds.json and <out>/pixel_seeds.md
(mean ± sd over seeds of IR/TR@1/5/10 and mean recall, distillation time, fixed-model
collapse metrics, per-seed speed ratios). Resumable: a run whose summary.json is complete
is read, not rerun.

    OMP_NUM_THREADS=1 nohup nice -n 10 .venv/bin/python scripts/repblend_pixel_seeds.py \\
        --out outputs/pixel_seeds > outputs/pixel_seeds.log 2>&1 &
    .venv/bin/python scripts/repblend_pixel_seeds.py --out outputs/pixel_seeds --report-only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_repblend_pixel_speed import data_overrides, distill_overrides, make_folder  # noqa: E402
from repblend_ablation import fmt, verdict  # noqa: E402

METHODS = {
    "RepBlend": ["remedy=repblend"],
    "LoRS": ["remedy=repblend_lors"],
    "blend_only": ["remedy=repblend", "remedy.symmetric=false"],
    "init": ["remedy=repblend"],  # with remedy.iterations=0 (overrides())
    "init_lors": ["remedy=repblend_lors"],  # the same, evaluated as LoRS's set is
    "random": ["remedy=none", "data.coreset=random"],
    "full": ["remedy=none"],
}
DISTILLED = ("RepBlend", "LoRS", "blend_only", "init", "init_lors")
INITS = ("init", "init_lors")
RECALLS = ["ir@1", "ir@5", "ir@10", "tr@1", "tr@5", "tr@10", "r_mean"]
FIXED = ["concentration/image", "concentration/text", "modality_gap"]


def overrides(method: str, seed: int, args, out: Path, root: Path) -> list[str]:
    """The `mmc train` command line of one (method, seed) run."""
    cmd = data_overrides(root, out, args.image_size, args.width) + METHODS[method]
    cmd += [f"seed={seed}", f"train.epochs={args.epochs}", f"+dataset.eval_every={args.eval_every}",
            f"run_dir={run_dir(out, method, seed)}"]  # fmt: skip
    if method != "full":
        cmd.append(f"data.num_pairs={args.pairs}")
    if method in DISTILLED:
        iterations = 0 if method in INITS else args.iterations
        cmd += distill_overrides(out, iterations, args.experts, args.expert_epochs)
        cmd += [f"remedy.lr_img={args.lr_img}", f"remedy.lr_txt={args.lr_img}",
                f"remedy.lr_lr={args.lr_lr}", f"remedy.lr_sim={args.lr_sim}"]  # fmt: skip
    return cmd


def run_dir(out: Path, method: str, seed: int) -> Path:
    return out / "runs" / method / f"seed{seed}"


def completed(path: Path) -> dict | None:
    summary = path / "summary.json"
    if not summary.exists():
        return None
    s = json.loads(summary.read_text())
    return s if s.get("status") == "completed" else None


def record(method: str, seed: int, summary: dict | None, error: str | None = None) -> dict:
    """What the table needs from one run's summary.json (None: the run failed)."""
    if summary is None:
        return {"method": method, "seed": seed, "status": "failed", "error": error}
    c = summary.get("collapse", {})
    d = summary.get("distill") or {}
    return {
        "method": method,
        "seed": seed,
        "status": "completed",
        "test": {k: summary["test"][k] for k in RECALLS},
        "distill_s": summary["timing"]["distill_s"],
        "total_s": summary["timing"]["total_s"],
        "step_sizes": d.get("step_sizes"),
        "step_size_floor": d.get("step_size_floor"),
        # The fixed reference model's collapse metrics (absent from runs that do not log them).
        "fixed": {k: c[f"fixed/train_set/{k}"] for k in FIXED if f"fixed/train_set/{k}" in c},
        "fixed_real": {k: c[f"fixed/real/{k}"] for k in FIXED if f"fixed/real/{k}" in c},
    }


def by_method(records: list[dict]) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for r in records:
        if r["status"] == "completed":
            out.setdefault(r["method"], {})[int(r["seed"])] = r
    return out


def speed_ratios(records: list[dict], slow: str = "LoRS", fast: str = "RepBlend") -> dict:
    """Per-seed distillation-time ratio slow / fast over the seeds both completed, and the
    ratio of their mean times."""
    runs = by_method(records)
    a, b = runs.get(slow, {}), runs.get(fast, {})
    seeds = sorted(set(a) & set(b))
    per_seed = {s: a[s]["distill_s"] / b[s]["distill_s"] for s in seeds if b[s]["distill_s"] > 0}
    if not per_seed:
        return {"per_seed": {}, "of_means": None}
    of_means = statistics.fmean(a[s]["distill_s"] for s in per_seed) / statistics.fmean(
        b[s]["distill_s"] for s in per_seed
    )
    return {"per_seed": per_seed, "of_means": of_means}


def aggregate(records: list[dict]) -> dict[str, dict]:
    """Per method: n, mean and sd over seeds of each recall, distill time and fixed metric."""
    out = {}
    for method, seeds in by_method(records).items():
        rs = list(seeds.values())
        cols = {k: [r["test"][k] for r in rs] for k in RECALLS}
        cols["distill_s"] = [r["distill_s"] for r in rs]
        for k in FIXED:
            vals = [r["fixed"].get(k) for r in rs]
            cols[f"fixed/{k}"] = [v for v in vals if v is not None]
        out[method] = {
            "n": len(rs),
            "seeds": sorted(seeds),
            "mean": {k: statistics.fmean(v) if v else None for k, v in cols.items()},
            "sd": {k: statistics.stdev(v) if len(v) > 1 else 0.0 for k, v in cols.items()},
            "values": cols,
        }
    return out


def verdicts(records: list[dict]) -> list[str]:
    """The claims, each holds / does not hold / inconclusive with every seed paired."""
    runs = by_method(records)

    def per_seed(m: str, get) -> dict[int, float]:
        return {s: get(r) for s, r in runs.get(m, {}).items()}

    def recall(m):
        return per_seed(m, lambda r: r["test"]["r_mean"])

    def avg(d):
        return statistics.fmean(d.values()) if d else float("nan")

    lines = []
    for a, b, what in (
        ("RepBlend", "blend_only", "symmetric matching helps retrieval (both blend)"),
        ("RepBlend", "LoRS", "RepBlend beats LoRS"),
        ("blend_only", "LoRS", "blending helps under the full encoder"),
        ("RepBlend", "random", "RepBlend beats the random coreset"),
        ("LoRS", "random", "LoRS beats the random coreset"),
        ("RepBlend", "init", "distillation improves on its initial pairs (RepBlend)"),
        ("LoRS", "init_lors", "distillation improves on its initial pairs (LoRS)"),
        ("blend_only", "init_lors", "distillation improves on its initial pairs (blend_only)"),
    ):
        ra, rb = recall(a), recall(b)
        if ra and rb:
            lines.append(
                f"- {what}: mean recall {a} {avg(ra):.1f} > {b} {avg(rb):.1f}: "
                f"**{verdict(ra, rb)}**"
            )
    for slow in ("LoRS", "blend_only"):
        ta = per_seed(slow, lambda r: r["distill_s"])
        tb = per_seed("RepBlend", lambda r: r["distill_s"])
        if ta and tb:
            lines.append(
                f"- symmetric matching is faster: distill time {slow} {avg(ta):.0f} s > "
                f"RepBlend {avg(tb):.0f} s: **{verdict(ta, tb)}**"
            )
    return lines


def table(records: list[dict], args: dict | None = None) -> str:
    agg = aggregate(records)
    head = ["| method | n | " + " | ".join(k.upper() for k in RECALLS) + " | distill s | "
            + " | ".join(f"fixed {k}" for k in FIXED) + " |",
            "|---|---|" + "---|" * (len(RECALLS) + 1 + len(FIXED))]  # fmt: skip
    lines = [f"# Pixel-space RepBlend vs LoRS over seeds ({len(records)} runs)", ""]
    if args:
        lines += ["Settings: " + ", ".join(f"{k}={v}" for k, v in args.items()), ""]
    lines += head
    for method in METHODS:
        if method not in agg:
            continue
        v = agg[method]["values"]
        cells = [fmt(v[k]) for k in RECALLS]
        cells.append(fmt(v["distill_s"]) if method in DISTILLED else "—")
        cells += [fmt(v[f"fixed/{k}"]) for k in FIXED]
        lines.append(f"| {method} | {agg[method]['n']} | " + " | ".join(cells) + " |")
    failed = [r for r in records if r["status"] != "completed"]
    if failed:
        lines += ["", "Failed runs: " + ", ".join(f"{r['method']}/seed{r['seed']}" for r in failed)]
    lines += ["", "Distillation time ratios (per seed; of the means):", ""]
    for slow in ("LoRS", "blend_only"):
        sr = speed_ratios(records, slow, "RepBlend")
        if sr["per_seed"]:
            seeds = " / ".join(f"{r:.2f}" for r in sr["per_seed"].values())
            lines.append(f"- {slow} / RepBlend: {seeds} (seeds {', '.join(map(str, sr['per_seed']))}); "
                         f"of the means {sr['of_means']:.2f}×")  # fmt: skip
    floors = [f"{r['method']}/seed{r['seed']}: {', '.join(r['step_size_floor'])}"
              for r in records if r.get("step_size_floor")]  # fmt: skip
    if floors:
        lines += ["", "Learned step sizes at the 1e-6 floor: " + "; ".join(floors)]
    lines += ["", "## Verdicts (every seed paired)", "", *verdicts(records)]
    return "\n".join(lines) + "\n"


def run_one(method: str, seed: int, args, out: Path, root: Path) -> dict:
    path = run_dir(out, method, seed)
    done = completed(path)
    if done is not None:
        print(f"{method} seed {seed}: done, read from {path}", flush=True)
        return record(method, seed, done)
    path.mkdir(parents=True, exist_ok=True)
    mmc = str(Path(sys.executable).with_name("mmc"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    t0 = time.perf_counter()
    with (path / "train.log").open("w") as f:
        rc = subprocess.call(
            [mmc, "train", *overrides(method, seed, args, out, root)],
            stdout=f, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    wall = time.perf_counter() - t0
    print(f"{method} seed {seed}: exit {rc} in {wall:.0f} s", flush=True)
    if rc != 0:
        tail = (path / "train.log").read_text().strip().splitlines()[-1:] or [""]
        return record(method, seed, None, f"exit {rc}: {tail[0]}")
    return record(method, seed, completed(path))


# Options that do not change what a run measures: a resumed --out may differ in these.
FREE = ("seeds", "methods", "threads")


def refusal(args, settings: dict, saved: Path) -> str | None:
    """Why these options cannot run (or report) in this --out, or None."""
    if not 1 <= args.concepts <= 36:
        return f"--concepts={args.concepts}: use 1 to 36"
    if saved.exists():
        old = json.loads(saved.read_text()).get("settings", {})
        differ = [k for k in settings if k not in FREE and k in old and old[k] != settings[k]]
        if differ:
            # its runs (and its generated folder) would be mixed into one table with these
            return (
                f"{saved.parent} holds runs made with "
                + ", ".join(f"--{k.replace('_', '-')} {old[k]}" for k in differ)
                + "; pass the same options or use another --out"
            )
    return None


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=Path("outputs/pixel_seeds"))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--pairs", type=int, default=50)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--experts", type=int, default=5)
    p.add_argument("--expert-epochs", type=int, default=3)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=int, default=16, help="TinyCNN width")
    p.add_argument("--train-images", type=int, default=600)
    p.add_argument("--concepts", type=int, default=6, help="image/caption classes (<= 36)")
    p.add_argument("--eval-images", type=int, default=100, help="images in val and in test")
    p.add_argument("--epochs", type=int, default=100, help="train.epochs of the evaluation")
    p.add_argument("--eval-every", type=int, default=5, help="dataset.eval_every (epochs)")
    p.add_argument("--lr-img", type=float, default=1.0, help="remedy.lr_img = remedy.lr_txt")
    p.add_argument("--lr-lr", type=float, default=0.0, help="remedy.lr_lr")
    p.add_argument("--lr-sim", type=float, default=0.1, help="remedy.lr_sim")
    p.add_argument("--threads", type=int, default=1, help="OMP threads per run")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args()
    out = args.out.resolve()
    root = out / "flickr"
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "report_only")}
    why = refusal(args, settings, out / "pixel_seeds.json")
    if why:
        print(f"repblend_pixel_seeds: {why}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    if not (root / "flickr30k_train.json").exists():
        make_folder(root, args.train_images, args.image_size, args.eval_images, args.concepts)
    records = []
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        for method in args.methods:
            if args.report_only:
                done = completed(run_dir(out, method, seed))
                if done is not None:
                    records.append(record(method, seed, done))
                continue
            records.append(run_one(method, seed, args, out, root))
            # Rewritten after every run, so a stopped job still leaves its table.
            (out / "pixel_seeds.json").write_text(
                json.dumps({"settings": settings, "records": records}, indent=1)
            )
    text = table(records, settings)
    (out / "pixel_seeds.md").write_text(text)
    (out / "pixel_seeds.json").write_text(
        json.dumps(
            {"settings": settings, "records": records, "aggregate": aggregate(records),
             "speed": {m: speed_ratios(records, m) for m in ("LoRS", "blend_only")},
             "wall_s": time.perf_counter() - t0},
            indent=1,
        )
    )  # fmt: skip
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
