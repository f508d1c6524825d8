"""Collapse metrics of distilled sets with the raw input features as the fixed embedding.

The runs' own `collapse/fixed/*` embed every set with one trained reference model (the
final expert), as issue 18 asks. That model learns to remove the features' common offset,
so its real pairs are centred (intra-modal cosine ~0). The paper measures with a model the
distilled data was not trained for (CLIP; real intra-modal cosine 0.51). In feature-space
distillation the nearest analogue is the frozen backbone's features themselves, i.e. the
data's raw image / text features. This script computes the intra-modal cosine, its sd, the
concentration ratio and the standardised shift of each run's `distilled.pt` in that raw
space, against the same real training pairs the run's `fixed/real/*` uses
(`mmc.retrieval.run.fixed_real_pairs`). The modality gap is left out: image and text
features have different sizes there.

    .venv/bin/python scripts/repblend_raw_collapse.py outputs/abl18_3000/sweeps > raw.md

Every run folder under the given sweep folders that holds `distilled.pt`, `config.yaml` and
`summary.json` is read. Its method is its sweep folder's name before '@' (as in
repblend_ablation.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor

from mmc.retrieval.collapse import (
    concentration_ratio,
    intra_modal_cosine,
    intra_modal_cosine_sd,
    standardised_shift,
)
from mmc.retrieval.run import build_data, fixed_real_pairs


class BadRun(Exception):
    """A run folder whose files cannot be read: one line naming it, exit 2."""


METRICS = ("intra_cos", "intra_cos_sd", "concentration", "shift_sd")


def raw_metrics(emb: Tensor, real: Tensor) -> dict[str, float]:
    """One modality's metrics against the real pairs' raw features."""
    return _metrics(emb, intra_modal_cosine(real), intra_modal_cosine_sd(real))


def _metrics(emb: Tensor, mean: float, sd: float) -> dict[str, float]:
    return {
        "intra_cos": intra_modal_cosine(emb),
        "intra_cos_sd": intra_modal_cosine_sd(emb),
        "concentration": concentration_ratio(emb, mean),
        "shift_sd": standardised_shift(emb, mean, sd),
    }


def run_dirs(sweeps: list[Path]) -> list[Path]:
    found = []
    for root in sweeps:
        for d in sorted(root.rglob("distilled.pt")):
            run = d.parent
            if (run / "config.yaml").is_file() and (run / "summary.json").is_file():
                found.append(run)
    return found


def measure(runs: list[Path]) -> list[dict]:
    """One row per run: method, pairs, seed, and image / text metrics (real and set)."""
    data: dict[str, object] = {}  # built data, per dataset.source
    real: dict[tuple[str, int], dict] = {}  # real pairs' metrics, per (source, seed)
    rows = []
    for run in runs:
        try:
            rows.append(_measure_one(run, data, real))
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""  # torch: many lines
            raise BadRun(f"{run} ({type(e).__name__}: {first})") from e
    return rows


def _measure_one(run: Path, data: dict, real: dict) -> dict:
    cfg = OmegaConf.load(run / "config.yaml")
    key = json.dumps(OmegaConf.to_container(cfg.dataset.source, resolve=True), sort_keys=True)
    if key not in data:
        data[key] = build_data(cfg)
    seed = int(cfg.seed)
    if (key, seed) not in real:  # the same real pairs for every method at this seed
        r_img, r_txt = fixed_real_pairs(data[key], cfg)
        real[key, seed] = {mod: raw_metrics(r.float(), r.float())
                           for mod, r in (("image", r_img), ("text", r_txt))}  # fmt: skip
    d = torch.load(run / "distilled.pt", weights_only=True)
    row = {"method": run.parent.name.split("@")[0], "pairs": len(d["txt"]), "seed": seed}
    for mod, emb in (("image", d["img"]), ("text", d["txt"])):
        ref = real[key, seed][mod]
        for k, v in _metrics(emb.float(), ref["intra_cos"], ref["intra_cos_sd"]).items():
            row[f"{k}/{mod}"] = v
        for k, v in ref.items():
            row[f"real/{k}/{mod}"] = v
    return row


def table(rows: list[dict]) -> str:
    def cell(values: list[float]) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.fmean(values):.3f} ± {sd:.3f}"

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["pairs"], r["method"]), []).append(r)
    cols = [f"{k}/{m}" for k in METRICS for m in ("image", "text")]
    out = [
        "| set | pairs | seeds | " + " | ".join(cols) + " |",
        "|---|---|---|" + "---|" * len(cols),
    ]
    for pairs in sorted({p for p, _ in groups}):
        first = next(v for (p, _), v in groups.items() if p == pairs)
        out.append(f"| real | {pairs} | {len(first)} | "
                   + " | ".join(cell([r[f"real/{c}"] for r in first]) for c in cols) + " |")  # fmt: skip
        for (p, method), runs in sorted(groups.items()):
            if p == pairs:
                out.append(f"| {method} | {p} | {len(runs)} | "
                           + " | ".join(cell([r[c] for r in runs]) for c in cols) + " |")  # fmt: skip
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("sweeps", type=Path, nargs="+", help="sweep folders (hydra.sweep.dir)")
    p.add_argument("--json", type=Path, help="also write the per-run rows here")
    args = p.parse_args(argv)
    missing = [s for s in args.sweeps if not s.is_dir()]
    if missing:
        print(f"repblend_raw_collapse: {missing[0]} is not a folder: pass sweep folders", file=sys.stderr)  # fmt: skip
        return 2
    runs = run_dirs(args.sweeps)
    if not runs:
        print("repblend_raw_collapse: no run with distilled.pt, config.yaml and summary.json "
              f"under {', '.join(map(str, args.sweeps))}: run a distillation first", file=sys.stderr)  # fmt: skip
        return 2
    try:
        rows = measure(runs)
    except BadRun as e:  # a malformed run folder: one line that names it, no traceback
        print(f"repblend_raw_collapse: cannot read {e}: rerun that run or pass sweep folders "
              "without it", file=sys.stderr)  # fmt: skip
        return 2
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(table(rows), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
