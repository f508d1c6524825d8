"""RepBlend vs LoRS-like vs random coreset on `dataset=synthetic_pairs` (CPU).

For 100 and 500 pairs and several seeds: IR/TR@1/5/10 on the test split (model selection on
val) and the collapse metrics of each training set (intra-modal cosine, concentration ratio,
modality gap, update norms), then which of the paper's orderings hold here.

    .venv/bin/python scripts/repblend_synthetic.py --quick   # ~2 seeds, short distillation
    .venv/bin/python scripts/repblend_synthetic.py           # 3 seeds, longer distillation

Every run goes through mmc.train.train with the real configs (the same as `mmc train`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from mmc.config.compose import compose_config
from mmc.train import train

METHODS = {
    "random": ["remedy=none", "data.coreset=random"],
    "LoRS-like": ["remedy=repblend", "remedy.blend=false", "remedy.symmetric=false"],
    "RepBlend": ["remedy=repblend"],
}
RECALLS = ["ir@1", "ir@5", "ir@10", "tr@1", "tr@5", "tr@10", "r_mean"]
COLLAPSE = [
    "train_set/intra_cos/image", "train_set/intra_cos/text", "train_set/concentration/image",
    "train_set/concentration/text", "train_set/modality_gap", "update_norm/synthetic_image",
    "update_norm/synthetic_text", "test/modality_gap",
]  # fmt: skip


def run(method: str, pairs: int, seed: int, args, out: Path) -> dict:
    overrides = [
        "dataset=synthetic_pairs", "logger=none", "progress=false", f"seed={seed}",
        f"data.num_pairs={pairs}", f"run_dir={out / f'{method}-n{pairs}-s{seed}'}",
        *METHODS[method],
    ]  # fmt: skip
    if method != "random":
        overrides += [
            f"remedy.iterations={args.iterations}", f"remedy.num_experts={args.experts}",
            f"remedy.expert_train_epochs={args.expert_epochs}", f"remedy.expert_dir={out / 'experts'}",
            f"remedy.lr_img={args.lr}", f"remedy.lr_txt={args.lr}",
        ]  # fmt: skip
    return train(compose_config(overrides))


def mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    m = statistics.fmean(values)
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.2f}±{s:.2f}" if abs(m) < 1.5 else f"{m:.1f}±{s:.1f}"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="2 seeds, 150 iterations, 5 experts")
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--experts", type=int, default=None)
    p.add_argument("--expert-epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=1000.0, help="remedy.lr_img = remedy.lr_txt")
    p.add_argument("--pairs", type=int, nargs="+", default=[100, 500])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads; more oversubscribes shared cores"
    )
    p.add_argument("--out", default="outputs/repblend_synthetic")
    p.add_argument(
        "--merge",
        nargs="+",
        metavar="RESULTS_JSON",
        help="only write the report of earlier runs' results.json files (e.g. run in parallel)",
    )
    args = p.parse_args()
    if args.merge:
        merged: dict = {}
        for path in args.merge:
            for key, runs in json.loads(Path(path).read_text())["results"].items():
                merged.setdefault(key, []).extend(runs)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_report(merged, out, f"synthetic_pairs: merged from {', '.join(args.merge)}")
        return
    args.seeds = args.seeds or (2 if args.quick else 3)
    args.iterations = args.iterations or (150 if args.quick else 500)
    args.experts = args.experts or (5 if args.quick else 10)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    t0 = time.perf_counter()
    for pairs in args.pairs:
        for method in args.methods:
            for seed in range(args.seeds):
                s = run(method, pairs, seed, args, out)
                results.setdefault(f"{method}@{pairs}", []).append(
                    {"test": s["test"], "collapse": s["collapse"]}
                )
                (out / "results.json").write_text(
                    json.dumps({"args": vars(args), "results": results}, indent=1)
                )

    header = (
        f"synthetic_pairs: {args.seeds} seeds, {args.iterations} distillation iterations, "
        f"{args.experts} experts x {args.expert_epochs} epochs, {time.perf_counter() - t0:.0f} s"
    )
    write_report(results, out, header)


def write_report(results: dict, out: Path, header: str) -> None:
    """Markdown tables (mean±std over seeds) and the paper's orderings, to out/report.md."""
    pair_counts = sorted({int(k.split("@")[1]) for k in results})
    lines = [f"# {header}", "",
             "| method | pairs | " + " | ".join(r.upper() for r in RECALLS) + " |",
             "|---|---|" + "---|" * len(RECALLS)]  # fmt: skip
    for key, runs in results.items():
        method, pairs = key.split("@")
        lines.append(
            f"| {method} | {pairs} | "
            + " | ".join(mean_std([r["test"][k] for r in runs]) for k in RECALLS)
            + " |"
        )
    lines += [
        "",
        "| method | pairs | " + " | ".join(COLLAPSE) + " |",
        "|---|---|" + "---|" * len(COLLAPSE),
    ]
    for key, runs in results.items():
        method, pairs = key.split("@")
        lines.append(
            f"| {method} | {pairs} | "
            + " | ".join(mean_std([r["collapse"].get(k) for r in runs]) for k in COLLAPSE)
            + " |"
        )

    def avg(key, metric, where="test"):
        return statistics.fmean(r[where][metric] for r in results[key])

    lines.append("")
    for pairs in pair_counts:
        if not all(f"{m}@{pairs}" in results for m in METHODS):
            continue
        rb, lo, ra = (avg(f"{m}@{pairs}", "r_mean") for m in ("RepBlend", "LoRS-like", "random"))
        lines.append(
            f"- {pairs} pairs, mean recall: RepBlend {rb:.1f} > LoRS-like {lo:.1f}: {rb > lo}; LoRS-like > random {ra:.1f}: {lo > ra}"
        )
        for metric in (
            "train_set/intra_cos/image",
            "train_set/intra_cos/text",
            "train_set/modality_gap",
        ):
            a, b = (
                avg(f"RepBlend@{pairs}", metric, "collapse"),
                avg(f"LoRS-like@{pairs}", metric, "collapse"),
            )
            lines.append(
                f"  - {metric}: RepBlend {a:.3f} vs LoRS-like {b:.3f} (lower with blending: {a < b})"
            )
    report = "\n".join(lines)
    (out / "report.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
