"""Do the collapse paper's claims hold, at the paper's protocol? (docs/remedies.md)

Runs `mmc.train.train` over seeds and missing rates and writes a claims table (mean ± std,
one-sided Wilcoxon signed-rank p-values with Holm–Bonferroni correction) with the mechanism
diagnostic beside each claim. Results are saved after every run (`results.json`), so an
interrupted harness keeps what it measured and `--report-only` rebuilds the table from it.

Protocol (MUSE / paper Table 1): every modality is masked per sample with probability r in
training *and* test (`data.missing_rate=r`); a method's score is the mean over the rates.
Substitution is judged at test time only (Table 6): models trained with every modality, each
modality masked at test, all substitutions evaluated on the same trained model.

Blocks, in the order they run (the ones that matter most first):
  A  rate 0, M=2: none / kd / ebr / ebr+align; late-fusion ensemble, neuron polysemanticity,
     VIF, substitution table, KD student probe, EBR discriminator and latent cosines
  B  rates `--rates` (default 0.3, 0.6): the same methods (Table 1 protocol; rate 0 from A)
  E  beta sweep (Fig. 5): rank of the fused representation vs beta, none and ebr
  D  M sweep (Table 7 / Fig. 4): per-feature and block VIF, semantic gap with the paper's
     baseline, M = 2, 3, 4
  X  (only when asked) other remedy settings (VARIANTS: KD with CRD or unimodal teachers,
     EBR at the paper's sizes, a weaker alignment) at rate 0 and `--variant-rates`: does
     any remedy help, and is polysemanticity higher under none than under the one that does?

    .venv/bin/python scripts/collapse_claims.py --quick           # smoke test: 1 seed, minutes
    .venv/bin/python scripts/collapse_claims.py --seeds 3         # the table in docs
    .venv/bin/python scripts/collapse_claims.py --report-only     # rebuild the table
    # another configuration: Hydra overrides for every run (recorded; a resume must match)
    .venv/bin/python scripts/collapse_claims.py --blocks A --methods none --data-seed 100 \
        --set model.head_hidden=4 --set dataset.source.n_test=16000 --out outputs/cc/h4
    # blocks in two processes, then one table:
    .venv/bin/python scripts/collapse_claims.py --blocks A --out outputs/cc/a &
    .venv/bin/python scripts/collapse_claims.py --blocks B --rates 0.5 --out outputs/cc/b &
    .venv/bin/python scripts/collapse_claims.py --report-only --rates 0.5 --out outputs/cc/all \
        --merge outputs/cc/a outputs/cc/b

Quick-mode verdicts are smoke tests, not the ones written in docs.
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
from mmc.errors import MmcError  # noqa: E402

SETTINGS = {
    # experiment=theory_collapse: narrow head, weight decay, 40 epochs, 4000/4000 samples.
    "theory": ["experiment=theory_collapse"],
}
BASE = ["logger=none", "progress=false", "diagnostics.every=0", "diagnostics.unimodal=false"]
EBR = [
    "remedy=ebr", "remedy.hidden=64", "remedy.shared_dim=32", "remedy.disc_hidden=[32]",
    "remedy.interleave=5",
]  # fmt: skip
METHODS = {
    "none": ["remedy=none"],
    "kd": [
        # lr 1e-2: at the default 1e-3 the student's probe barely moved in 20 epochs
        "remedy=kd", "remedy.objective=infonce", "remedy.epochs=20", "remedy.lr=1e-2",
    ],
    "ebr": [*EBR, "substitution=ebr"],
    "ebr+align": [*EBR, "remedy.align=1.0", "substitution=ebr"],
}  # fmt: skip
# Block X: other settings of the remedies (does *any* of them help on this benchmark?).
VARIANTS = {
    # the paper's CRD objective; 512 negatives (not 16384, capped at n-1 = 1999 here): the
    # memory-bank gather made one run take 4 min on a shared CPU core
    "kd-crd": ["remedy=kd", "remedy.epochs=20", "remedy.nce_negatives=512"],
    "kd-init": [*METHODS["kd"], "remedy.init_teachers=true"],  # teachers start unimodal too
    "ebr-paper": [  # the paper's sizes: H=1024, d_shared=512, psi (512, 256), k=10
        "remedy=ebr", "substitution=ebr",
    ],
    "ebr+align0.1": [*EBR, "remedy.align=0.1", "substitution=ebr"],
}  # fmt: skip
ALL = {**METHODS, **VARIANTS}
FILLS = ("none", "zeros", "random", "mean", "nearest", "class_mean", "late", "ebr")
DIAG_A = "diagnostics.extra=[ensemble,neurons,vif,substitutions]"
DIAG_D = "diagnostics.extra=[vif,semantic_paper,neurons]"


def data_overrides(data_seed: int | None, fix_samples: bool, samples: int | None) -> list[str]:
    """--data-seed: one data structure (prototypes, partitions, mixing) for every run seed;
    --fix-samples: the same samples too (the spread over seeds is then training variance)."""
    out = [] if data_seed is None else [f"dataset.source.structure_seed={data_seed}"]
    if fix_samples:
        out.append(f"dataset.source.sample_seed={data_seed}")
    if samples is not None:
        out += [f"dataset.source.n_train={samples}", f"dataset.source.n_test={samples}"]
    return out


# Keys the harness sets itself for every run: a --set on one of them would be overridden
# (seed) or would silently change what a block measures (rate, M, method), so it is refused.
HARNESS_KEYS = (
    "seed", "run_dir", "dataset.source.seed", "dataset.source.structure_seed",
    "dataset.source.sample_seed", "dataset.source.n_modalities", "data.missing_rate", "remedy",
    "substitution",
)  # fmt: skip


def parse_sets(values: list[str]) -> list[str]:
    """--set KEY=VALUE (repeatable) as Hydra overrides, applied after the harness's own
    options of every run (so e.g. `--set diagnostics.extra=[ensemble,neurons]` wins over a
    block's diagnostics). Raises ValueError with a one-line message on a malformed one."""
    out = []
    for v in values:
        key, eq, _ = v.partition("=")
        key = key.strip().lstrip("+~")
        if not eq or not key:
            raise ValueError(f"--set {v!r}: expected KEY=VALUE")
        owned = [h for h in HARNESS_KEYS if key == h or key.startswith(h + ".")]
        if owned:
            raise ValueError(f"--set {v!r}: {owned[0]} is set by the harness itself "
                             "(--data-seed / --fix-samples / --seeds / --methods / --blocks)")  # fmt: skip
        out.append(v)
    return out


def run(setting: list[str], overrides: list[str], seed: int) -> dict:
    from mmc.config.compose import compose_config
    from mmc.train import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(
            [*setting, *BASE, *overrides, f"seed={seed}", f"dataset.source.seed={seed}",
             f"run_dir={tmp}"]
        )  # fmt: skip
        t0 = time.perf_counter()
        s = train(cfg)
        s["_seconds"] = time.perf_counter() - t0
        return s


def digest(s: dict) -> dict:
    """The numbers the claims need, from one run's summary."""
    ex, strong, weak = s["extra"], s["data"]["strongest"], s["data"]["weakest"]
    row = {
        "test": s["test"]["accuracy"],
        "strong_masked": s["test_masked"][strong]["accuracy"],
        "weak_masked": s["test_masked"][weak]["accuracy"],
        "contribution_weak": s["contribution"][weak],
        "contribution_strong": s["contribution"][strong],
        "rank_stages": ex.get("rank_stages"),
        "seconds": s["_seconds"],
    }
    if "ensemble" in ex:
        row["ensemble"] = ex["ensemble"]
    # each unimodal reference's best validation epoch and epochs run: a yardstick that was
    # stopped on a plateau, or is still improving at its last epoch, shows here
    if s.get("unimodal_training"):
        row["unimodal_training"] = s["unimodal_training"]
    if "neurons" in ex:
        row["poly_fraction"] = ex["neurons"].get("fraction", math.nan)
        row["weak_share"] = ex["neurons"].get(f"share/{weak}", math.nan)
        # the paper's measure (predictive of one modality + noisy of another), and how much
        # of the head's drive the weak modality's predictive vs noisy factors account for
        for k, src in (("poly_paper", "fraction"), ("weak_noise_entangled", f"entangled_noise/{weak}"),
                       ("weak_pred_share", f"predictive_share/{weak}"),
                       ("weak_noisy_share", f"noisy_share/{weak}")):  # fmt: skip
            row[k] = ex["neurons"].get(f"paper/{src}", math.nan)
        # the same from total effects through the encoders (nonlinear responses count too)
        for k, src in (("poly_total", "fraction"), ("weak_noise_entangled_total", f"entangled_noise/{weak}"),
                       ("weak_pred_effect", f"predictive_effect/{weak}"),
                       ("weak_noisy_effect", f"noisy_effect/{weak}")):  # fmt: skip
            row[k] = ex["neurons"].get(f"paper_total/{src}", math.nan)
    if "vif" in ex:
        row["vif_feature"], row["vif_block"] = ex["vif"]["feature"], ex["vif"]["modality"]
    if "semantic_paper" in ex:
        row["semantic_gap"] = ex["semantic_paper"]["gap"]
    if "substitutions" in ex:
        row["substitutions"] = ex["substitutions"]
    if "kd" in ex:
        row["kd_probe"] = ex["kd"]["student_probe"]
    if "ebr" in ex:
        e = ex["ebr"]
        row["ebr"] = {
            "cos_same": e["test"]["cos_same"],
            "cos_random": e["test"]["cos_random"],
            "disc_acc_per_epoch": [h["disc_acc"] for h in e["history"]],
            "final_disc_acc": e["final_disc_acc"],
        }
    return row


# --------------------------------------------------------------------------- statistics
def ms(values: list[float], nd: int = 3) -> str:
    v = [x for x in values if x is not None and not math.isnan(x)]
    if not v:
        return "n/a"
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.mean(v):.{nd}f} ± {sd:.{nd}f}"


def mean(values: list[float]) -> float:
    v = [x for x in values if x is not None and not math.isnan(x)]
    return statistics.mean(v) if v else math.nan


def wilcoxon_greater(a: list[float], b: list[float]) -> float:
    """One-sided paired Wilcoxon signed-rank p-value for a > b (exact for small n)."""
    from scipy.stats import wilcoxon

    pairs = [(x, y) for x, y in zip(a, b) if not (math.isnan(x) or math.isnan(y))]
    if len(pairs) < 2 or all(x == y for x, y in pairs):
        return math.nan
    return float(
        wilcoxon([x for x, _ in pairs], [y for _, y in pairs], alternative="greater").pvalue
    )


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm–Bonferroni adjusted p-values (NaNs are left out of the family)."""
    valid = sorted((p, k) for k, p in pvalues.items() if not math.isnan(p))
    out, running, n = {k: math.nan for k in pvalues}, 0.0, len(valid)
    for i, (p, k) in enumerate(valid):
        running = max(running, min(1.0, (n - i) * p))
        out[k] = running
    return out


# --------------------------------------------------------------------------- the claims
def claims(res: dict) -> tuple[list[dict], list[str]]:
    runs, seeds, rates = res["runs"], res["seeds"], [0.0, *res["rates"]]

    def get(key: str) -> dict | None:
        return runs.get(key)

    def vals(method: str, field: str, rate=0.0, m=2, beta=None, sub=None) -> list[float]:
        out = []
        for s in seeds:
            r = get(key_of(method, rate, m, beta, s))
            if r is None:
                out.append(math.nan)
            elif sub is not None:
                out.append(sub(r))
            else:
                out.append(r.get(field, math.nan))
        return out

    def over_rates(method: str, field: str) -> list[float]:
        """Seed-major list over (seed, rate) pairs; NaN where not run, and for every rate of
        a seed that lacks one (block A may have run more seeds than block B)."""
        out = []
        for s in seeds:
            row = [(get(key_of(method, r, 2, None, s)) or {}).get(field, math.nan) for r in rates]
            out += [math.nan] * len(rates) if any(math.isnan(x) for x in row) else row
        return out

    def same_seeds(cells: list[list[float]]) -> list[list[float]]:
        """Per-setting lists over seeds, kept only for seeds present in every setting (so an
        M or beta sweep compares the same seeds)."""
        keep = [all(not math.isnan(c[i]) for c in cells) for i in range(len(seeds))]
        return [[x if k else math.nan for x, k in zip(c, keep)] for c in cells]

    rows, lines = [], []
    # ---- H: harmful collapse
    fused = vals("none", "test")
    ens = vals("none", "", sub=lambda r: r.get("ensemble", {}).get("ensemble", math.nan))
    diff = [e - f for e, f in zip(ens, fused)]
    d_ok = [d for d in diff if not math.isnan(d)]
    margin_sd = (
        mean(d_ok) / statistics.stdev(d_ok)
        if len(d_ok) > 1 and statistics.stdev(d_ok) > 0
        else math.nan
    )
    p_h = wilcoxon_greater(ens, fused)
    poly = {m: vals(m, "poly_fraction") for m in METHODS}
    share = {m: vals(m, "weak_share") for m in METHODS}
    paper = {m: vals(m, "poly_paper") for m in METHODS}
    total = {m: vals(m, "poly_total") for m in METHODS}
    rows.append({
        "claim": "H. Harmful collapse: fused (none, all modalities) below the late-fusion "
                 "ensemble by > 3 sd (the issue's bar)",
        "numbers": f"fused {ms(fused)} vs ensemble {ms(ens)}; gap {ms(diff)} = {margin_sd:.1f} sd; "
                   f"gap > 0 in {sum(d > 0 for d in d_ok)}/{len(d_ok)} seeds",
        # the Wilcoxon p (ensemble > fused, paired over seeds) is shown beside; the verdict
        # is the bar: mean gap > 3 sd of the gaps
        "p": p_h, "p_raw": p_h,
        "verdict": _v(len(d_ok) >= 3, not math.isnan(margin_sd) and margin_sd > 3)
        + (" the 3 sd bar (the gap itself: p < 0.05)"
           if margin_sd <= 3 and not math.isnan(p_h) and p_h < 0.05 and mean(diff) > 0 else ""),
        "diagnostic": "polysemantic fraction (cross-modal) " + ", ".join(f"{m} {ms(poly[m], 2)}" for m in METHODS)
        + "; (paper's, predictive-noisy, linear shares) " + ", ".join(f"{m} {ms(paper[m], 2)}" for m in METHODS)
        + "; (same, total effects) " + ", ".join(f"{m} {ms(total[m], 2)}" for m in METHODS)
        + "; weak share of head drive " + ", ".join(f"{m} {ms(share[m], 2)}" for m in METHODS),
    })  # fmt: skip
    # ---- T1: protocol (mean over rates)
    t1 = {m: over_rates(m, "test") for m in METHODS}
    per_rate = {
        m: "  ".join(f"r={r:g}: {ms([(get(key_of(m, r, 2, None, s)) or {}).get('test', math.nan) for s in seeds])}" for r in rates)
        for m in METHODS
    }  # fmt: skip
    for m in METHODS:
        lines.append(f"  {m:<10} {per_rate[m]}")
    lines.append(
        "The same models under each test-time fill-in (test split with its own missingness):"
    )
    for m in METHODS:
        for r in rates[1:]:
            cells = []
            for name in FILLS:
                v = [
                    (get(key_of(m, r, 2, None, s)) or {}).get("substitutions", {}).get(name, {}).get("as_observed", math.nan)
                    for s in seeds
                ]  # fmt: skip
                if not all(math.isnan(x) for x in v):
                    cells.append(f"{name} {ms(v)}")
            if cells:
                lines.append(f"  {m:<10} r={r:g}: " + "  ".join(cells))
    p_raw = {
        "kd>none": wilcoxon_greater(t1["kd"], t1["none"]),
        "ebr>none": wilcoxon_greater(t1["ebr"], t1["none"]),
        "ebr>kd": wilcoxon_greater(t1["ebr"], t1["kd"]),
        "ebr+align>ebr": wilcoxon_greater(t1["ebr+align"], t1["ebr"]),
    }
    # Table 6: the same EBR model, strong or weak modality masked, 6 (seed, modality) pairs.
    sub_pairs: dict[str, list[float]] = {}
    for name in ("ebr", "zeros", "random", "nearest", "mean", "none"):
        sub_pairs[name] = [
            (get(key_of("ebr", 0.0, 2, None, s)) or {}).get("substitutions", {}).get(name, {}).get(mod, math.nan)
            for s in seeds
            for mod in ("m0", "m1")
        ]  # fmt: skip
    for base in ("zeros", "random", "nearest", "mean"):
        p_raw[f"sub ebr>{base}"] = wilcoxon_greater(sub_pairs["ebr"], sub_pairs[base])
    # Rank vs beta and VIF / semantic vs M.
    betas, ms_ = res["betas"], res["modalities"]
    rank = {
        m: [mean(c) for c in same_seeds(
            [vals(m, "", beta=b, sub=lambda r: r["rank_stages"]["fused"]["effective"]) for b in betas])]
        for m in ("none", "ebr")
    }  # fmt: skip
    vif = {m: same_seeds([vals(m, "vif_feature", m=k) for k in ms_]) for m in ("none", "kd", "ebr")}
    gap = same_seeds([vals("none", "semantic_gap", m=k) for k in ms_])
    p_raw["vif none M=max>M=2"] = wilcoxon_greater(vif["none"][-1], vif["none"][0])
    p_raw["vif none>kd"] = wilcoxon_greater(sum(vif["none"], []), sum(vif["kd"], []))
    p_raw["vif kd>ebr"] = wilcoxon_greater(sum(vif["kd"], []), sum(vif["ebr"], []))
    p_raw["gap M=max>M=2"] = wilcoxon_greater(gap[-1], gap[0])
    # Holm within each family of claims (Table 1, Table 6, Table 7 / Fig. 4).
    p = {}
    for fam in (
        ("kd>none", "ebr>none", "ebr>kd", "ebr+align>ebr"),
        tuple(k for k in p_raw if k.startswith("sub ")),
        ("vif none M=max>M=2", "vif none>kd", "vif kd>ebr", "gap M=max>M=2"),
    ):
        p.update(holm({k: p_raw[k] for k in fam}))

    def probe(method: str, stage: str) -> list[float]:
        return [
            (get(key_of(method, r, 2, None, s)) or {}).get("kd_probe", {}).get(stage, {}).get("accuracy", math.nan)
            for s in seeds
            for r in rates
        ]  # fmt: skip

    def ebr_diag(method: str) -> str:
        rs = [get(key_of(method, r, 2, None, s)) for s in seeds for r in rates]
        rs = [r["ebr"] for r in rs if r and "ebr" in r]
        same = ms([r["cos_same"] for r in rs], 2)
        rnd = ms([r["cos_random"] for r in rs], 2)
        disc = ms([r["final_disc_acc"] for r in rs], 2)
        first = ms([mean(r["disc_acc_per_epoch"][:5]) for r in rs], 2)
        return (
            f"latent cos same {same} vs random {rnd}; disc acc first (adversarial) block "
            f"{first}, last epoch {disc} (chance 0.50)"
        )

    def rank_where(method: str) -> str:
        rs = [get(key_of(method, 0.0, 2, None, s)) for s in seeds]
        rs = [r["rank_stages"] for r in rs if r and r.get("rank_stages")]
        if not rs:
            return "n/a"
        parts = [
            f"{k} {ms([r[k]['numerical'] for r in rs], 1)}"
            for k in ("encoders", "ebr_latent", "fused")
            if k in rs[0]
        ]
        return "numerical rank " + ", ".join(parts) + f" (C-1 = {rs[0]['C_minus_1']})"

    kd_diag = (
        f"student probe acc: before KD {ms(probe('kd', 'before_distillation'))}, after KD "
        f"{ms(probe('kd', 'after_distillation'))}, after fusion {ms(probe('kd', 'after_fusion'))}"
    )
    mt = {
        # a seed's mean over the rates only where it has every rate (block A may have more seeds)
        m: ms([_full_mean(t1[m][i * len(rates) : (i + 1) * len(rates)]) for i in range(len(seeds))])
        for m in METHODS
    }
    n_pairs = sum(1 for x in t1["none"] if not math.isnan(x))
    for key, text, diag in (
        ("kd>none", "T1. KD beats none (accuracy, missingness in train and test)", kd_diag),
        ("ebr>none", "T1. EBR (+ EBR substitution) beats none", ebr_diag("ebr") + "; " + rank_where("ebr")),
        ("ebr>kd", "T1. EBR beats KD", ""),
        ("ebr+align>ebr", "Beyond the paper: EBR + per-sample alignment beats EBR", ebr_diag("ebr+align")),
    ):  # fmt: skip
        a, b = key.split(">")
        rows.append({
            "claim": text,
            "numbers": f"{a} {mt[a]} vs {b} {mt[b]} (mean over rates {rates}, ± sd over seeds; "
                       f"{n_pairs} (seed, rate) pairs)",
            "p": p[key],
            "p_raw": p_raw[key],
            "verdict": verdict(p[key], mean(t1[a]) - mean(t1[b]), n_pairs),
            "diagnostic": diag,
        })  # fmt: skip
    for base in ("zeros", "random", "nearest", "mean"):
        key = f"sub {base}"
        rows.append({
            "claim": f"T6. EBR substitution beats {base} (same EBR model, one modality masked at test)",
            "numbers": f"ebr {ms(sub_pairs['ebr'])} vs {base} {ms(sub_pairs[base])}",
            "p": p[f"sub ebr>{base}"],
            "p_raw": p_raw[f"sub ebr>{base}"],
            "verdict": verdict(p[f"sub ebr>{base}"], mean(sub_pairs["ebr"]) - mean(sub_pairs[base]),
                                sum(1 for x in sub_pairs["ebr"] if not math.isnan(x))),
            "diagnostic": ebr_diag("ebr").split(";")[0] if key else "",
        })  # fmt: skip

    # Fig. 5: rank drops sharply under none as beta grows; flat under ebr.
    def rel(xs):
        return [x / xs[0] if xs and xs[0] else math.nan for x in xs]

    rn, re_ = rel(rank["none"]), rel(rank["ebr"])
    have_rank = not any(math.isnan(x) for x in rank["none"] + rank["ebr"])
    rows.append({
        "claim": "F5. Fused rank drops sharply with beta under none (some step loses > 40%)",
        "numbers": "none rank " + ", ".join(f"b={b:g}: {x:.1f}" for b, x in zip(betas, rank["none"])),
        "p": math.nan,
        "verdict": _v(have_rank, have_rank and min(b / a for a, b in zip(rn[:-1], rn[1:])) < 0.6),
        "diagnostic": "ebr rank " + ", ".join(f"b={b:g}: {x:.1f}" for b, x in zip(betas, rank["ebr"])),
    })  # fmt: skip
    rows.append({
        "claim": "F5. Fused rank under ebr stays within 20% of its value at the smallest beta",
        "numbers": "ebr rank / rank(first beta): " + ", ".join(f"{x:.2f}" for x in re_),
        "p": math.nan,
        "verdict": _v(have_rank, have_rank and max(abs(x - 1) for x in re_) <= 0.2),
        "diagnostic": rank_where("ebr") + " (EBR's latent bottleneck caps the rank)",
    })  # fmt: skip
    for key, text, a_vals, b_vals, cells in (
        ("vif none M=max>M=2", f"T7. Per-feature VIF grows with M under none (M={ms_[0]}..{ms_[-1]})",
         vif["none"][-1], vif["none"][0], vif["none"]),
        ("vif none>kd", "T7. Per-feature VIF lower under KD than none", sum(vif["none"], []), sum(vif["kd"], []), vif["kd"]),
        ("vif kd>ebr", "T7. Per-feature VIF lower under EBR than KD", sum(vif["kd"], []), sum(vif["ebr"], []), vif["ebr"]),
        ("gap M=max>M=2", "F4. Semantic gap (paper's baseline) grows with M under none", gap[-1], gap[0], gap),
    ):  # fmt: skip
        n = sum(1 for x, y in zip(a_vals, b_vals) if not (math.isnan(x) or math.isnan(y)))
        rows.append({
            "claim": text,
            "numbers": ", ".join(f"M={k}: {ms(c, 2)}" for k, c in zip(ms_, cells)),
            "p": p[key],
            "p_raw": p_raw[key],
            "verdict": verdict(p[key], mean(a_vals) - mean(b_vals), n),
            "diagnostic": "none: " + ", ".join(f"M={k}: {ms(c, 1)}" for k, c in zip(ms_, vif["none"]))
            if key != "vif none M=max>M=2" else "block VIF none: " + ", ".join(
                f"M={k}: {ms(vals('none', 'vif_block', m=k), 2)}" for k in ms_),
        })  # fmt: skip
    helps_rows, helps_lines = helps(res, get)
    rows += helps_rows
    lines.insert(0, "Accuracy per missing rate (train = test rate), mean ± sd over seeds:")
    return rows, [*lines, "", *helps_lines]


def _full_mean(xs: list[float]) -> float:
    return math.nan if any(math.isnan(x) for x in xs) else statistics.mean(xs)


def helps(res: dict, get) -> tuple[list[dict], list[str]]:
    """Does any remedy (a method, a variant of block X, a test-time fill-in) beat `none`,
    with every modality present (rate 0, paired over seeds) or over the rates (paired over
    (seed, rate) cells)? If a trained remedy does: is the polysemantic fraction higher under
    none than under it? (A test-time fill-in leaves the model, so its polysemanticity, as is.)"""
    seeds, rates = res["seeds"], [0.0, *res["rates"]]

    def cell(method: str, r: float, s: int, field: str = "test") -> float:
        return (get(key_of(method, r, 2, None, s)) or {}).get(field, math.nan)

    def fill(r: float, s: int, name: str) -> float:
        subs = (get(key_of("none", r, 2, None, s)) or {}).get("substitutions", {})
        return subs.get(name, {}).get("as_observed", math.nan)

    def pair(a: list[float], b: list[float]) -> tuple[float, int]:
        d = [x - y for x, y in zip(a, b) if not (math.isnan(x) or math.isnan(y))]
        return mean(d), len(d)

    trained = [
        m for m in ALL if m != "none" and any(not math.isnan(cell(m, 0.0, s)) for s in seeds)
    ]
    tests: dict[str, tuple[list[float], list[float]]] = {}
    for m in trained:
        tests[f"{m} @r=0"] = (
            [cell(m, 0.0, s) for s in seeds],
            [cell("none", 0.0, s) for s in seeds],
        )
        rs = [r for r in rates if any(not math.isnan(cell(m, r, s)) for s in seeds)]
        # only seeds that ran every one of these rates for both (rate 0 must not dominate)
        full = [
            s for s in seeds if all(not math.isnan(cell(k, r, s)) for k in (m, "none") for r in rs)
        ]
        tests[f"{m} @rates"] = (
            [cell(m, r, s) for s in full for r in rs], [cell("none", r, s) for s in full for r in rs]
        )  # fmt: skip
    fills = [
        n
        for n in FILLS[1:-1]
        if any(not math.isnan(fill(r, s, n)) for s in seeds for r in rates[1:])
    ]
    for n in fills:  # fill-ins on the same `none` model, test-time missingness only
        tests[f"none+{n} @rates"] = (
            [fill(r, s, n) for s in seeds for r in rates[1:]],
            [fill(r, s, "none") for s in seeds for r in rates[1:]],
        )
    p_raw = {k: wilcoxon_greater(a, b) for k, (a, b) in tests.items()}
    p = {}  # Holm within each family: all-present, over rates (trained), fill-ins
    for suffix in ("@r=0", "@rates"):
        fam = {k: v for k, v in p_raw.items() if k.endswith(suffix) and not k.startswith("none+")}
        p.update(holm(fam))
    p.update(holm({k: v for k, v in p_raw.items() if k.startswith("none+")}))

    def helped(k: str) -> bool:
        return not math.isnan(p[k]) and p[k] < 0.05 and pair(*tests[k])[0] > 0

    def txt(k: str) -> str:
        g, n = pair(*tests[k])
        return f"{g:+.3f} ({n} pairs, p {p_raw[k]:.3g}, Holm {p[k]:.3g}){' HELPS' if helped(k) else ''}"

    poly_none = [cell("none", 0.0, s, "poly_fraction") for s in seeds]
    lines = [
        "Does any remedy help? Gain over none, one-sided Wilcoxon, Holm within each column "
        "(rate 0 = every modality present, paired over seeds; rates = every (seed, rate) cell):",
    ]
    for m in trained:
        lines.append(
            f"  {m:<13} r=0 {ms([cell(m, 0.0, s) for s in seeds])} (none "
            f"{ms([cell('none', 0.0, s) for s in seeds])}); r=0: {txt(f'{m} @r=0')}; "
            f"rates: {txt(f'{m} @rates')}; polysemantic fraction "
            f"{ms([cell(m, 0.0, s, 'poly_fraction') for s in seeds], 2)}"
        )
    for n in fills:
        lines.append(
            f"  none + {n:<10} (test-time fill-in, same model) rates: {txt(f'none+{n} @rates')}"
        )
    lines.append(f"  polysemantic fraction under none: {ms(poly_none, 2)}")
    best = max(
        (k for k in tests if helped(k) and not k.startswith("none+")),
        key=lambda k: pair(*tests[k])[0], default=None,
    )  # fmt: skip
    fill_help = [k.split("@")[0].strip() for k in tests if k.startswith("none+") and helped(k)]
    if best is None:
        row = {
            "claim": "Must show: polysemantic fraction higher under none than under the remedy that helps",
            "numbers": "no trained remedy or variant beats none, at rate 0 or over the rates"
            + (f"; only test-time fill-ins on the none model: {', '.join(fill_help)} "
               "(same model, so the same polysemanticity)" if fill_help else ""),
            "p": math.nan, "verdict": "does not hold (no remedy helps)",
            "diagnostic": "KD student probe, EBR discriminator and latent cosines: rows above; "
            f"polysemantic fraction none {ms(poly_none, 2)}",
        }  # fmt: skip
    else:
        m = best.split(" @")[0]
        rows = []
        for field, name in (
            ("poly_fraction", "cross-modal"),
            ("poly_paper", "paper's predictive-noisy, linear shares"),
            ("poly_total", "paper's predictive-noisy, total effects"),
        ):
            a = [cell("none", 0.0, s, field) for s in seeds]
            b = [cell(m, 0.0, s, field) for s in seeds]
            if all(math.isnan(x) for x in a + b):
                continue
            pp = wilcoxon_greater(a, b)
            diag = f"{m} beats none: {txt(best)}"
            parts = {  # which factors of the weak modality the head reads
                "poly_paper": (("weak_noise_entangled", "noise-entangled fraction"),
                               ("weak_pred_share", "predictive share"),
                               ("weak_noisy_share", "noisy share")),
                "poly_total": (("weak_noise_entangled_total", "noise-entangled fraction"),
                               ("weak_pred_effect", "predictive effect"),
                               ("weak_noisy_effect", "noisy effect")),
            }.get(field, ())  # fmt: skip
            if parts:
                diag += "; weak modality's " + ", ".join(
                    f"{lab} none {ms([cell('none', 0.0, s, f) for s in seeds], 2)} vs {m} "
                    f"{ms([cell(m, 0.0, s, f) for s in seeds], 2)}"
                    for f, lab in parts
                )
            rows.append({
                "claim": f"Must show: polysemantic fraction ({name}) higher under none than "
                         f"under {m} (helps)",
                "numbers": f"none {ms(a, 2)} vs {m} {ms(b, 2)}",
                "p_raw": pp, "effect": mean(a) - mean(b),
                "diagnostic": diag,
            })  # fmt: skip
        # three measures of one claim: Holm over them, so a claim does not pass by
        # picking the measure that happens to pass
        adj = holm({r["claim"]: r["p_raw"] for r in rows})
        for r in rows:
            r["p"] = adj[r["claim"]]
            r["verdict"] = verdict(r["p"], r.pop("effect"), len(seeds))
        return rows, lines
    return [row], lines


def _v(have: bool, holds: bool) -> str:
    return "inconclusive (not run)" if not have else ("holds" if holds else "does not hold")


def verdict(p: float, effect: float, n: int) -> str:
    if n < 3 or math.isnan(effect):
        return "inconclusive (not run)"
    if not math.isnan(p) and p < 0.05 and effect > 0:
        return "holds"
    if effect <= 0:
        return "does not hold"
    return "inconclusive (effect > 0, p >= 0.05)"


def key_of(method: str, rate: float, m: int, beta, seed: int) -> str:
    return f"{method}/r{rate:g}/M{m}" + (f"/b{beta:g}" if beta is not None else "") + f"/s{seed}"


def render(res: dict) -> str:
    rows, lines = claims(res)
    out = [
        "| claim | numbers | p (Holm) | verdict | diagnostic |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        p = "" if math.isnan(r["p"]) else f"{r.get('p_raw', math.nan):.3g} ({r['p']:.3g})"
        out.append(
            f"| {r['claim']} | {r['numbers']} | {p} | **{r['verdict']}** | {r['diagnostic']} |"
        )
    out += [
        "",
        *lines,
        "",
        f"{len(res['runs'])} runs, {res.get('wall_s', 0):.0f} s, seeds {res['seeds']}"
        + (f", --set {' '.join(res['set'])}" if res.get("set") else ""),
    ]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--setting", choices=sorted(SETTINGS), default="theory")
    ap.add_argument("--quick", action="store_true", help="1 seed, 10 epochs: a smoke test")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rates", type=float, nargs="*", default=[0.3, 0.6])
    ap.add_argument("--betas", type=float, nargs="*", default=[0.5, 1.5, 3.0])
    ap.add_argument("--modalities", type=int, nargs="*", default=[2, 3, 4])
    ap.add_argument("--variant-rates", type=float, nargs="*", default=[0.5])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--blocks", default="ABED", help="which blocks to run, in order (X: variants)")
    ap.add_argument("--out", type=Path, default=REPO / "outputs" / "collapse_claims")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument(
        "--data-seed", type=int, default=None,
        help="one data structure (prototypes, partitions, mixing) for every run seed; "
        "default: each run seed draws its own",
    )  # fmt: skip
    ap.add_argument(
        "--fix-samples", action="store_true",
        help="also the same samples for every run seed (needs --data-seed): the sd over seeds "
        "is then training variance only",
    )  # fmt: skip
    ap.add_argument("--samples", type=int, default=None, help="train and test samples per run")
    ap.add_argument(
        "--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
        help="the methods blocks A and B run (the first one also gets semantic_paper in A); "
        "claims on a method left out read as not run",
    )  # fmt: skip
    ap.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
        help="a Hydra override for every run (repeatable), e.g. --set model.head_hidden=4; "
        "recorded in results.json: a resumed --out with other --set values is refused",
    )  # fmt: skip
    ap.add_argument(
        "--merge", type=Path, nargs="*", default=[],
        help="out dirs of parallel harness processes: their runs are merged into --out",
    )  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.json"
    setting = list(SETTINGS[args.setting])
    if args.quick:
        setting += ["train.epochs=10", "dataset.source.n_train=500"]
        METHODS["kd"] += ["remedy.epochs=3"]
        args.seeds = 1
    if args.fix_samples and args.data_seed is None:
        print("collapse_claims: --fix-samples needs --data-seed", file=sys.stderr)
        return 2
    try:
        sets = parse_sets(args.sets)
    except ValueError as e:
        print(f"collapse_claims: {e}", file=sys.stderr)
        return 2
    data = {"data_seed": args.data_seed, "fix_samples": args.fix_samples, "samples": args.samples,
            "set": sets}  # fmt: skip
    setting += data_overrides(args.data_seed, args.fix_samples, args.samples)
    res = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    for where, held in ((path, res), *((o, json.loads((o / "results.json").read_text()))
                                        for o in args.merge)):  # fmt: skip
        old = {k: held.get(k) for k in data} | {"fix_samples": bool(held.get("fix_samples")),
                                                "set": list(held.get("set") or [])}  # fmt: skip
        if held["runs"] and old != data:
            # runs on other data would be averaged with these as if they were one setting
            print(f"collapse_claims: {where} holds runs with {old}, not {data}; "
                  "use another --out or the same data options", file=sys.stderr)  # fmt: skip
            return 2
    for other in args.merge:  # runs of processes that ran blocks in parallel
        part = json.loads((other / "results.json").read_text())
        res["runs"].update(part["runs"])
        res["wall_s"] = max(res.get("wall_s", 0.0), part.get("wall_s", 0.0))
    res.update({
        "setting": args.setting, "seeds": list(range(args.seeds)), "rates": args.rates,
        "betas": args.betas, "modalities": args.modalities, "quick": args.quick, **data,
    })  # fmt: skip
    started = time.perf_counter() - res.get("wall_s", 0.0)
    if not args.report_only:
        plan = []
        for block in args.blocks:
            for s in res["seeds"]:
                if block == "A":
                    plan += [(m, 0.0, 2, None, s, [DIAG_A]) for m in args.methods]
                    plan[-len(args.methods)] = (
                        *plan[-len(args.methods)][:5],
                        [DIAG_A.replace("]", ",semantic_paper]")],
                    )
                elif block == "B":
                    plan += [
                        (m, r, 2, None, s, ["diagnostics.extra=[neurons,substitutions]"])
                        for r in args.rates
                        for m in args.methods
                    ]
                elif block == "E":
                    plan += [
                        (m, 0.0, 2, b, s, [])
                        for b in args.betas
                        if b != 1.5
                        for m in ("none", "ebr")
                    ]
                elif block == "X":
                    plan += [
                        (m, r, 2, None, s, ["diagnostics.extra=[neurons,substitutions]"])
                        for r in (0.0, *args.variant_rates)
                        for m in args.variants
                    ]
                elif block == "D":
                    plan += [
                        (m, 0.0, k, None, s, [DIAG_D])
                        for k in args.modalities
                        if k != 2
                        for m in ("none", "kd", "ebr")
                    ]
        for method, rate, m, beta, s, extra in plan:  # fmt: skip
            key = key_of(method, rate, m, beta, s)
            if key in res["runs"]:
                continue
            ov = [
                *ALL[method],
                f"data.missing_rate={rate}",
                f"dataset.source.n_modalities={m}",
                *extra,
                *([f"dataset.source.beta={beta}"] if beta is not None else []),
                *sets,  # last: a --set wins over the block's own options (block E's beta too)
            ]
            try:
                res["runs"][key] = digest(run(setting, ov, s))
            except MmcError as e:  # a bad option: one line; the runs so far are saved
                print(f"collapse_claims: {key}: {e}", file=sys.stderr)
                return 2
            res["wall_s"] = time.perf_counter() - started
            path.write_text(json.dumps(res, indent=1))
            print(f"[{res['wall_s']:6.0f}s] {key}: test {res['runs'][key]['test']:.3f}", flush=True)
    # beta=1.5 is the default: the beta sweep reuses block A's rate-0 runs.
    for k in list(res["runs"]):
        if k.startswith(("none/r0/M2/s", "ebr/r0/M2/s")):
            res["runs"].setdefault(k.replace("/M2/", "/M2/b1.5/"), res["runs"][k])
    report = render(res)
    (args.out / "report.md").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
