"""Do the collapse paper's qualitative claims hold on the synthetic benchmark?

Runs `mmc.train.train` over seeds and prints mean ± std with a verdict per claim:

1. strongest modality missing at test time: kd and ebr (+ substitution=ebr) recover at least
   half of the gap between none and the weak modality's unimodal accuracy;
2. effective rank of the fused representation: drops sharply past some beta under none
   (data.modality_weight upweights the weak modality's inputs), stays within 20% of its
   beta=1 value under ebr;
3. average (modality-block) VIF grows with M = 2..5 under none, is lower under kd and lower
   still under ebr;
4. the semantic-loss gap (multimodal prefix - unimodal baseline) grows with M under none.

    .venv/bin/python scripts/collapse_claims.py --quick     # 2 seeds, small grid
    .venv/bin/python scripts/collapse_claims.py             # 3 seeds, full grid

Settings are scaled down from the paper (small data, few epochs, EBR heads of 128 units
instead of 1024) so that the whole thing runs on a laptop CPU; see docs/remedies.md.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BASE = [
    "logger=none",
    "progress=false",
    "diagnostics.every=0",
    "diagnostics.unimodal=false",
    "dataset.source.n_train=1500",
    "dataset.source.n_val=300",
    "dataset.source.n_test=1000",
    "model.dim=32",
    "train.epochs=20",
    "diagnostics.unimodal_epochs=20",
]
REMEDIES = {
    "none": ["remedy=none"],
    "kd": ["remedy=kd", "remedy.epochs=10", "remedy.nce_negatives=1024"],
    "ebr": [
        "remedy=ebr", "remedy.hidden=128", "remedy.shared_dim=64", "remedy.disc_hidden=[64,32]",
        "remedy.interleave=5", "substitution=ebr",
    ],
}  # fmt: skip
# Context rows for claim 1 only: what a substitution does without a remedy, and EBR without one.
CONTEXT = {
    "none+nearest": ["remedy=none", "substitution=nearest"],
    "ebr-no-substitution": [
        *(o for o in REMEDIES["ebr"] if not o.startswith("substitution")),
        "substitution=none",
    ],
}


def run(overrides: list[str], seed: int) -> dict:
    from mmc.config.compose import compose_config
    from mmc.train import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(
            [*BASE, *overrides, f"seed={seed}", f"dataset.source.seed={seed}", f"run_dir={tmp}"]
        )
        t0 = time.perf_counter()
        s = train(cfg)
        s["_seconds"] = time.perf_counter() - t0
        return s


def ms(values: list[float]) -> str:
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return "nan"
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.mean(v):.3f} ± {sd:.3f}"


def mean(values: list[float]) -> float:
    v = [x for x in values if not math.isnan(x)]
    return statistics.mean(v) if v else math.nan


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, beta in {1,4,16}, M in {2,3,5}")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--out", type=Path, default=REPO / "outputs" / "collapse_claims")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.quick:  # fewer samples and epochs: minutes, not tens of minutes, on a CPU
        BASE.extend(
            ["dataset.source.n_train=1000", "train.epochs=12", "diagnostics.unimodal_epochs=12"]
        )
        REMEDIES["kd"].extend(["remedy.epochs=5"])
    seeds = list(range(args.seeds or (2 if args.quick else 3)))
    betas = [1.0, 4.0, 16.0] if args.quick else [1.0, 2.0, 4.0, 8.0, 16.0]
    ms_ = [2, 3, 5] if args.quick else [2, 3, 4, 5]
    extra = "diagnostics.extra=[vif,semantic]"

    res: dict = {"seeds": seeds, "betas": betas, "modalities": ms_, "runs": {}}
    started = time.perf_counter()

    def get(remedy: str, m: int, beta: float, seed: int) -> dict:
        key = f"{remedy}/M{m}/b{beta:g}/s{seed}"
        if key not in res["runs"]:
            ov = [
                *{**REMEDIES, **CONTEXT}[remedy],
                f"dataset.source.n_modalities={m}",
                f"data.modality_weight={beta}",
                extra,
            ]
            if remedy == "none" and m == 2 and beta == 1.0:
                ov.append("diagnostics.unimodal=true")  # the weak modality's own accuracy
            s = run(ov, seed)
            res["runs"][key] = {
                "test": s["test"]["accuracy"],
                "strong_masked": s["test_masked"][s["data"]["strongest"]]["accuracy"],
                "weak_unimodal": s["unimodal"]
                .get(s["data"]["weakest"], {})
                .get("accuracy", math.nan),
                "rank": s["rank"]["fused"]["effective"],
                "vif": s["extra"]["vif"]["modality"],
                "vif_feature": s["extra"]["vif"]["feature"],
                "semantic_gap": s["extra"]["semantic"]["gap"],
                "seconds": s["_seconds"],
            }
            print(f"[{time.perf_counter() - started:6.0f}s] {key}: {res['runs'][key]}", flush=True)
        return res["runs"][key]

    for seed in seeds:
        for remedy in [*REMEDIES, *CONTEXT]:
            get(remedy, 2, 1.0, seed)
        for beta in betas:
            for remedy in ("none", "ebr"):
                get(remedy, 2, beta, seed)
        for m in ms_:
            for remedy in REMEDIES:
                get(remedy, m, 1.0, seed)

    def col(remedy, m, beta, field):
        return [get(remedy, m, beta, s)[field] for s in seeds]

    lines, verdicts = [], {}
    # ---- claim 1
    none_m = col("none", 2, 1.0, "strong_masked")
    weak = col("none", 2, 1.0, "weak_unimodal")
    lines.append("Claim 1: accuracy with the strongest modality masked at test time (M=2)")
    lines.append(f"  weak modality alone         {ms(weak)}")
    lines.append(f"  none                        {ms(none_m)}")
    rec = {}
    for remedy in ("kd", "ebr"):
        vals = col(remedy, 2, 1.0, "strong_masked")
        rec[remedy] = [
            (v - n) / (w - n) if w - n > 0 else math.nan for v, n, w in zip(vals, none_m, weak)
        ]
        label = remedy + (" + substitution=ebr" if remedy == "ebr" else "")
        lines.append(f"  {label:<27} {ms(vals)}   gap recovered {ms(rec[remedy])}")
    for name in CONTEXT:
        lines.append(f"  {name:<27} {ms(col(name, 2, 1.0, 'strong_masked'))}   (context)")
    verdicts["1_kd_recovers_half_gap"] = mean(rec["kd"]) >= 0.5
    verdicts["1_ebr_recovers_half_gap"] = mean(rec["ebr"]) >= 0.5
    # ---- claim 2
    lines.append(
        "Claim 2: effective rank of the fused representation vs beta (weak modality upweighted)"
    )
    rel = {}
    for remedy in ("none", "ebr"):
        ranks = [mean(col(remedy, 2, b, "rank")) for b in betas]
        rel[remedy] = [r / ranks[0] for r in ranks]
        cells = "  ".join(f"b={b:g}: {ms(col(remedy, 2, b, 'rank'))}" for b in betas)
        lines.append(f"  {remedy:<5} {cells}")
    steps = [b / a for a, b in zip(rel["none"][:-1], rel["none"][1:])]
    verdicts["2_none_rank_drops_sharply"] = min(steps) < 0.6  # one step loses > 40% of the rank
    verdicts["2_ebr_rank_within_20pct"] = max(abs(r - 1) for r in rel["ebr"]) <= 0.2
    lines.append(f"  none rank / rank(beta=1): {[round(r, 2) for r in rel['none']]}")
    lines.append(f"  ebr  rank / rank(beta=1): {[round(r, 2) for r in rel['ebr']]}")
    # ---- claim 3
    lines.append("Claim 3: average modality-block VIF vs number of modalities")
    vif = {}
    for remedy in REMEDIES:
        vif[remedy] = [mean(col(remedy, m, 1.0, "vif")) for m in ms_]
        cells = "  ".join(f"M={m}: {ms(col(remedy, m, 1.0, 'vif'))}" for m in ms_)
        lines.append(f"  {remedy:<5} {cells}")
    verdicts["3_vif_grows_with_M_under_none"] = all(
        b > a for a, b in zip(vif["none"][:-1], vif["none"][1:])
    )
    verdicts["3_vif_kd_below_none"] = all(k < n for k, n in zip(vif["kd"], vif["none"]))
    verdicts["3_vif_ebr_below_kd"] = all(e < k for e, k in zip(vif["ebr"], vif["kd"]))
    # ---- claim 4
    lines.append("Claim 4: semantic-loss gap (prefix - unimodal, linear probe CE) vs M under none")
    gaps = [mean(col("none", m, 1.0, "semantic_gap")) for m in ms_]
    lines.append(
        "  none  " + "  ".join(f"M={m}: {ms(col('none', m, 1.0, 'semantic_gap'))}" for m in ms_)
    )
    verdicts["4_semantic_gap_grows_with_M"] = all(b > a for a, b in zip(gaps[:-1], gaps[1:]))

    lines.append("Verdicts:")
    lines += [f"  {k:<34} {'HOLDS' if v else 'does not hold'}" for k, v in verdicts.items()]
    lines.append(
        f"total {time.perf_counter() - started:.0f} s, {len(res['runs'])} runs, seeds {seeds}"
    )
    report = "\n".join(lines)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    res["verdicts"] = verdicts
    (args.out / "results.json").write_text(json.dumps(res, indent=1))
    (args.out / "report.txt").write_text(report + "\n")
    print(f"written: {args.out / 'report.txt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
