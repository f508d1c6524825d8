"""`mmc report <sweep dir> [...]`: tables, significance tests and plots of a finished sweep.

Reads only the run directories (summary.json, metrics.jsonl, .hydra/overrides.yaml) and
writes to <first sweep dir>/report/ unless --out is given:
  runs.csv                     every completed run, one row each
  table.{md,csv,tex}           mean ± std per method (the collapse paper's Table 1 format),
                               test metrics and collapse numbers; ↑/↓ = which way is better;
                               bold only where the Holm-adjusted Wilcoxon test says it differs
  wilcoxon.{md,csv,tex}        Wilcoxon signed-rank vs --reference, Holm-corrected (Table 8)
  <metric>_vs_<axis>           a metric against the missing rate / noise rate
  masked_vs_<axis>             test metric: all modalities, strongest masked, weakest masked
  rank_curves[_numerical]      effective (numerical) rank over epochs, a panel per rate
  contribution_curves          each modality's contribution over epochs, a panel per rate
  unimodal_vs_fused            fused (all / each masked) vs each modality alone, bars
  dashboard                    collapse at a glance: the collapse curve (val, all vs strongest
                               masked), contributions, fused rank, test vs missing rate
  rank_vs_beta                 fused effective rank against β (Fig. 5)
  similarity_<method>          retrieval: the distilled soft similarity matrix (RepBlend/LoRS)
  report.md                    all of the above on one page
Figures are written as .png, .pdf and .svg.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from mmc.errors import DataError
from mmc.report import plots
from mmc.report.gather import (
    AXES,
    add_method,
    load_histories,
    load_runs,
    numeric_axis,
    rate_axes,
)
from mmc.report.stats import paired_tests
from mmc.report.tables import best_method, formatted, markdown, mean_std, write_table
from mmc.utils.checkpoint import load_record

RANK = "rank/fused/effective"
# Swept keys read as the collapse paper's β (Fig. 5): data.modality_weight upweights the
# collapsing modality; dataset.source.strengths sets the synthetic modalities' signal.
BETA_WORDS = ("modality_weight", "beta", "strength")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mmc report", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "sweeps",
        nargs="+",
        type=Path,
        help="sweep directories (hydra.sweep.dir); several are pooled",
    )
    p.add_argument("--out", type=Path, help="output folder (default: <first sweep>/report)")
    p.add_argument("--metrics", nargs="+", help="columns to tabulate, e.g. test/auroc test/auprc collapse/gap "
                   "(default: the test metrics)")  # fmt: skip
    p.add_argument("--method-by", nargs="+", help="columns that name a method (default: the varying "
                   "overrides other than seed, missing/noise rate and β)")  # fmt: skip
    p.add_argument(
        "--across",
        help="the axis the ± spans (default: missing_rate if swept, else β, else noise_rate, else seeds)",
    )
    p.add_argument(
        "--beta",
        help="column holding β for rank_vs_beta.png (default: a swept data.modality_weight, *beta* or *strength* key)",
    )
    p.add_argument(
        "--reference",
        help="method compared against all others (default: best mean on the first metric)",
    )
    p.add_argument(
        "--alpha", type=float, default=0.05, help="family-wise error rate for Holm–Bonferroni"
    )
    p.add_argument("--digits", type=int, default=4)
    return p.parse_args(argv)


COLLAPSE = ("collapse/fused_strong_masked", "collapse/weak_unimodal", "collapse/gap")


def _default_metrics(runs: pd.DataFrame) -> list[str]:
    tests = [c for c in runs.columns if c.startswith("test/")]
    if {"test/auroc", "test/auprc"} <= set(tests):
        tests = ["test/auroc", "test/auprc"]  # binary tasks: the papers' AUC-ROC / AUC-PR
    # The collapse numbers: fused with the strongest masked vs the weakest alone, and the gap.
    return tests + [c for c in COLLAPSE if c in runs and runs[c].notna().any()]


def significant_best(
    runs: pd.DataFrame, stats: pd.DataFrame, metrics: list[str], pair_on: list[str], alpha: float
) -> dict[str, str]:
    """{metric: method} where the best mean (in the metric's direction) differs from every
    other method by a paired Wilcoxon test, Holm-adjusted over those comparisons."""
    bold = {}
    for metric in metrics:
        best = best_method(stats, metric)
        if best is None:
            continue
        tests = paired_tests(runs, best, metric, pair_on, alpha)
        if len(tests) and bool(tests["reject"].all()):
            bold[metric] = best
    return bold


def _beta_column(runs: pd.DataFrame, requested: str | None) -> str | None:
    if requested:
        if requested not in runs:
            raise DataError(
                f"--beta {requested}: not a column of these runs; columns: {', '.join(c for c in runs.columns if '/' not in c)}"
            )
        return requested
    for column in runs.attrs.get("varying", []):
        if any(word in column for word in BETA_WORDS) and column in runs:
            return column
    return None


def _runs_on_axis(runs: pd.DataFrame, across: str, notes: list[str]) -> pd.DataFrame:
    """The runs that have a value on the `--across` axis. Pooled sweeps need not all sweep
    it (a full-data sweep has no data.num_pairs): runs without a value cannot sit on the
    axis, so they are left out of the tables and tests, and a note names them."""
    if across not in runs or runs[across].isna().all():
        raise DataError(
            f"--across {across}: not a column of these runs; use one of: {', '.join(AXES)} "
            f"or a swept setting ({', '.join(runs.attrs.get('varying', [])) or 'none swept'})"
        )
    lacking = runs[across].isna()
    if lacking.any():
        labels = sorted({str(r) for r in runs.loc[lacking, "remedy"]}) if "remedy" in runs else []
        notes.append(
            f"{int(lacking.sum())} run(s) without {across} left out of the tables and tests"
            + (f" (remedy: {', '.join(labels)})" if labels else "")
            + f": {', '.join(runs.loc[lacking, 'run_dir'].head(3))}"
            + (" ..." if lacking.sum() > 3 else "")
        )
    kept = runs.loc[~lacking].reset_index(drop=True)
    kept.attrs.update(runs.attrs)
    return kept


def build_report(args: argparse.Namespace) -> tuple[Path, str]:
    runs, problems = load_runs(args.sweeps)
    out = args.out or args.sweeps[0] / "report"
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    if not problems.empty:
        notes.append(f"{len(problems)} job(s) not included (failed or unfinished):")
        notes += [f"- {r.run_dir}: {r.status} {r.message}".rstrip() for r in problems.itertuples()]
    if runs.empty:
        raise DataError(
            f"no completed runs under {', '.join(map(str, args.sweeps))}; " + " ".join(notes)
        )

    beta = _beta_column(runs, args.beta)
    if beta is not None:
        runs["beta"] = numeric_axis(runs, beta)
    if args.across:
        runs = _runs_on_axis(runs, args.across, notes)
    exclude = tuple(c for c in (beta, args.across) if c)  # axes, not parts of a method's name
    method_by = add_method(runs, args.method_by, exclude=exclude)
    metrics = args.metrics or _default_metrics(runs)
    unknown = [m for m in metrics if m not in runs]
    if unknown:
        numeric = [c for c in runs.columns if "/" in c]
        raise DataError(
            f"--metrics {unknown}: not in these runs' summaries; available: {', '.join(numeric)}"
        )
    rates = rate_axes(runs)
    missing = [a for a in rates if "missing" in a]
    varying = [*missing, *(["beta"] if beta else []), *(a for a in rates if a not in missing)]
    across = args.across or (varying[0] if varying else None)
    if across and across not in runs:
        raise DataError(
            f"--across {across}: not a column of these runs; use one of: {', '.join(AXES)}"
        )
    runs.to_csv(out / "runs.csv", index=False)

    stats = mean_std(runs, metrics, across)
    methods = list(dict.fromkeys(runs["method"]))
    pair_on = [a for a in (across, "seed") if a and runs[a].nunique() > 1] or ["seed"]
    bold = significant_best(runs, stats, metrics, pair_on, args.alpha) if len(methods) > 1 else {}
    table = formatted(stats, args.digits, bold)
    over = stats.attrs["over"]
    caption = (
        f"Mean ± std over {over} ({len(runs)} runs; method = {', '.join(method_by)}). "
        f"↑/↓: higher/lower is better. Bold: the best mean where a two-sided Wilcoxon "
        f"signed-rank test against every other method, paired over {' × '.join(pair_on)} and "
        f"Holm-adjusted, rejects at alpha {args.alpha}"
    )
    write_table(table, out / "table", caption, raw=stats)
    page = [f"# mmc report: {', '.join(map(str, args.sweeps))}", "", caption, "", markdown(table)]
    shown = markdown(table)

    if len(methods) > 1:
        reference = args.reference or best_method(stats, metrics[0]) or methods[0]
        tests = {m: paired_tests(runs, reference, m, pair_on, args.alpha) for m in metrics}
        p_table = pd.DataFrame({m: t.set_index("method")["p_holm"] for m, t in tests.items()})
        p_table = p_table.map(lambda p: "n/a" if pd.isna(p) else f"{p:.4f}")
        p_table.index.name = "method"
        detail = pd.concat([t.assign(metric=m) for m, t in tests.items()], ignore_index=True)
        n_pairs = int(detail["n_pairs"].max())
        cap = (f"Holm–Bonferroni-adjusted p-values of two-sided Wilcoxon signed-rank tests, {reference} vs "
               f"each method, paired over {' × '.join(pair_on)} ({n_pairs} pairs); alpha {args.alpha}")  # fmt: skip
        write_table(p_table, out / "wilcoxon", cap)
        detail.to_csv(out / "wilcoxon_detail.csv", index=False)
        page += [cap, "", markdown(p_table)]
        shown += "\n" + cap + "\n" + markdown(p_table)
        if n_pairs < 6:
            notes.append(
                f"Wilcoxon with {n_pairs} pairs cannot reach p < {2 / 2**n_pairs:.3f}: sweep more rates or seeds."
            )

    figures = draw_figures(runs, out, rates, beta, metrics, notes)
    page += [f"![{f.stem}]({f.name})\n" for f in figures]
    if notes:
        page += ["", *notes]
    (out / "report.md").write_text("\n".join(page) + "\n")
    message = "\n".join([caption, shown, *notes, f"report written to {out}/ (report.md, table.md/.csv/.tex, "
                         f"{len(figures)} figure(s))"])  # fmt: skip
    return out, message


def draw_figures(
    runs: pd.DataFrame,
    out: Path,
    rates: list[str],
    beta: str | None,
    metrics: list[str],
    notes: list[str],
) -> list[Path]:
    """Every figure the runs support (PNG paths; PDF and SVG lie beside them)."""
    figures: list[Path] = []
    roles = plots.modality_roles(runs)
    monitor = str(runs["monitor"].mode().iloc[0]) if runs["monitor"].notna().any() else None
    facets = [*rates, *(["beta"] if beta else [])]
    for axis in rates:
        name = f"{metrics[0]}_vs_{axis}".replace("/", "_")
        figures.append(
            plots.metric_vs(runs, numeric_axis(runs, axis), metrics[0], axis, out / f"{name}.png")
        )
    for axis in (a for a in rates if "missing" in a and monitor):
        runs_x = runs.assign(**{axis: numeric_axis(runs, axis)})
        figures.append(plots.masked_vs(runs_x, axis, monitor, roles, out / f"masked_vs_{axis}.png"))
    if beta is not None and RANK in runs:
        figures.append(
            plots.metric_vs(
                runs,
                runs["beta"],
                RANK,
                "beta",
                out / "rank_vs_beta.png",
                "fused effective rank vs β",
            )  # fmt: skip
        )
    elif beta is None:
        notes.append("rank_vs_beta.png not drawn: no β swept (pass --beta <column> to choose one).")
    histories = load_histories(runs)
    if not histories.empty:
        facet_values = runs[["run_dir", *facets]].copy()
        for axis in rates:
            facet_values[axis] = numeric_axis(runs, axis)
        histories = histories.merge(facet_values, on="run_dir", how="left")
        for kind, stem in (("effective", "rank_curves"), ("numerical", "rank_curves_numerical")):
            figures.append(plots.rank_curves(histories, out / f"{stem}.png", facets, roles, kind))
        if monitor:
            figures.append(
                plots.contribution_curves(
                    histories, out / "contribution_curves.png", facets, roles, monitor
                )
            )
            axis = next((a for a in rates if "missing" in a), rates[0] if rates else None)
            runs_x = runs.assign(**{a: numeric_axis(runs, a) for a in rates})
            figures.append(
                plots.dashboard(runs_x, histories, axis, roles, monitor, out / "dashboard.png")
            )
    if not any(f is not None and f.stem == "rank_curves" for f in figures):
        notes.append(
            "rank_curves.png not drawn: no rank/* columns in metrics.jsonl (diagnostics.every=0?)."
        )
    if monitor:
        runs_f = runs.assign(**{a: numeric_axis(runs, a) for a in rates})
        figures.append(
            plots.unimodal_vs_fused(runs_f, facets, monitor, roles, out / "unimodal_vs_fused.png")
        )
    figures += similarity_figures(runs, out)
    return [f for f in figures if f is not None]


def similarity_figures(runs: pd.DataFrame, out: Path) -> list[Path]:
    """The soft similarity matrix a retrieval remedy distilled (distilled.pt), one per method
    (its first run)."""
    figures = []
    for method, part in runs.groupby("method", sort=False):
        for run_dir in part["run_dir"]:
            path = Path(run_dir) / "distilled.pt"
            if not path.exists():
                continue
            sim = load_record(path, "distilled set").get("similarity")
            if sim is not None:
                name = "".join(c if c.isalnum() else "_" for c in str(method))
                figures.append(
                    plots.similarity_heatmap(
                        sim.float().numpy(),
                        out / f"similarity_{name}.png",
                        f"Distilled soft similarity targets, {method}\n(first 100 synthetic pairs)",
                    )
                )
                break
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    _, message = build_report(args)
    print(message)
    return 0
