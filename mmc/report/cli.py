"""`mmc report <sweep dir> [...]`: tables, significance tests and plots of a finished sweep.

Reads only the run directories (summary.json, metrics.jsonl, .hydra/overrides.yaml) and
writes to <first sweep dir>/report/ unless --out is given:
  runs.csv                     every completed run, one row each
  table.{md,csv,tex}           mean ± std per method (the collapse paper's Table 1 format)
  wilcoxon.{md,csv,tex}        Wilcoxon signed-rank vs --reference, Holm-corrected (Table 8)
  <metric>_vs_<axis>.png       a metric against the missing rate / noise rate
  rank_vs_beta.png             fused effective rank against β (Fig. 5)
  rank_curves.png              effective rank over epochs (metrics.jsonl)
  report.md                    all of the above on one page
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
from mmc.report.tables import formatted, markdown, mean_std, write_table

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


def _default_metrics(runs: pd.DataFrame) -> list[str]:
    tests = [c for c in runs.columns if c.startswith("test/")]
    if {"test/auroc", "test/auprc"} <= set(tests):
        tests = ["test/auroc", "test/auprc"]  # binary tasks: the papers' AUC-ROC / AUC-PR
    return tests


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
    method_by = add_method(runs, args.method_by, exclude=(beta,) if beta else ())
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
    table = formatted(stats, args.digits)
    over = stats.attrs["over"]
    caption = f"Mean ± std over {over} ({len(runs)} runs; method = {', '.join(method_by)})"
    write_table(table, out / "table", caption, raw=stats)
    page = [f"# mmc report: {', '.join(map(str, args.sweeps))}", "", caption, "", markdown(table)]
    shown = markdown(table)

    methods = list(dict.fromkeys(runs["method"]))
    if len(methods) > 1:
        reference = args.reference or str(stats[(metrics[0], "mean")].idxmax())
        pair_on = [a for a in (across, "seed") if a and runs[a].nunique() > 1] or ["seed"]
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

    figures = []
    for axis in rates:
        name = f"{metrics[0]}_vs_{axis}".replace("/", "_")
        figures.append(
            plots.metric_vs(runs, numeric_axis(runs, axis), metrics[0], axis, out / f"{name}.png")
        )
    if beta is not None and RANK in runs:
        figures.append(
            plots.metric_vs(
                runs,
                runs["beta"],
                RANK,
                f"β ({beta})",
                out / "rank_vs_beta.png",
                "fused effective rank vs β",
            )
        )
    elif beta is None:
        notes.append("rank_vs_beta.png not drawn: no β swept (pass --beta <column> to choose one).")
    histories = load_histories(runs)
    curves = plots.rank_curves(histories, out / "rank_curves.png") if not histories.empty else None
    if curves is None:
        notes.append(
            "rank_curves.png not drawn: no rank/* columns in metrics.jsonl (diagnostics.every=0?)."
        )
    else:
        figures.append(curves)
    page += [f"![{f.stem}]({f.name})\n" for f in figures]
    if notes:
        page += ["", *notes]
    (out / "report.md").write_text("\n".join(page) + "\n")
    message = "\n".join([caption, shown, *notes, f"report written to {out}/ (report.md, table.md/.csv/.tex, "
                         f"{len(figures)} figure(s))"])  # fmt: skip
    return out, message


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    _, message = build_report(args)
    print(message)
    return 0
