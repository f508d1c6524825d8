"""Mean ± std tables in the collapse paper's Table 1 format, written as Markdown/CSV/LaTeX.

Table 1 averages each method over the missingness rates and reports the spread across
them. With several seeds per rate, seeds are averaged first, so the ± is the spread over
the `across` axis, not seed noise; with one value of `across` the ± is over seeds.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

# Metric families where the best method is the one with the highest mean (bolded). Ranks,
# collapse gaps and the like have no "better" direction a table could assume.
HIGHER_IS_BETTER = {"test", "val", "test_masked", "unimodal"}


def cell_means(runs: pd.DataFrame, metrics: list[str], across: str | None) -> pd.DataFrame:
    """Mean over seeds of each (method, across value)."""
    keys = ["method", across] if across else ["method"]
    return runs.groupby(keys, sort=False)[metrics].mean().reset_index()


def mean_std(runs: pd.DataFrame, metrics: list[str], across: str | None) -> pd.DataFrame:
    """One row per method; columns (metric, mean|std|n)."""
    use_across = across if across and runs[across].nunique() > 1 else None
    cells = cell_means(runs, metrics, use_across) if use_across else runs
    stats = cells.groupby("method", sort=False)[metrics].agg(["mean", "std", "count"])
    stats.attrs["over"] = use_across or "seed"
    return stats


def _fmt(mean: float, std: float, digits: int) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def formatted(stats: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """'0.8236 ± 0.0900' cells, best mean per metric marked with ** (Markdown bold)."""
    metrics = list(dict.fromkeys(stats.columns.get_level_values(0)))
    out = pd.DataFrame(index=stats.index)
    for m in metrics:
        cells = [_fmt(a, b, digits) for a, b in zip(stats[(m, "mean")], stats[(m, "std")])]
        higher_is_better = m.split("/")[0] in HIGHER_IS_BETTER
        best = (
            stats[(m, "mean")].idxmax()
            if higher_is_better and stats[(m, "mean")].notna().any()
            else None
        )
        out[m] = [
            f"**{c}**" if i == best and len(cells) > 1 else c for i, c in zip(stats.index, cells)
        ]
    out.index.name = "method"
    return out


def markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table (hand-written: pandas needs the optional tabulate for this)."""
    header = [table.index.name or "", *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for idx, row in table.iterrows():
        lines.append("| " + " | ".join([str(idx), *map(str, row.tolist())]) + " |")
    return "\n".join(lines) + "\n"


def latex(table: pd.DataFrame, caption: str) -> str:
    body = table.map(lambda c: str(c).replace("**", "").replace("±", r"$\pm$"))
    bold = table.map(lambda c: str(c).startswith("**"))
    body = body.where(~bold, body.map(lambda c: rf"\textbf{{{c}}}"))
    body.columns = [str(c).replace("_", r"\_") for c in body.columns]
    body.index = [str(i).replace("_", r"\_") for i in body.index]
    caption = caption.replace("_", r"\_").replace("±", r"$\pm$").replace("×", r"$\times$")
    return body.to_latex(caption=caption, escape=False, column_format="l" + "c" * len(body.columns))


def write_table(
    table: pd.DataFrame, stem: Path, caption: str, raw: pd.DataFrame | None = None
) -> list[Path]:
    """stem.md, stem.csv (numbers, not strings, when `raw` is given) and stem.tex."""
    md, csv, tex = stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".tex")
    md.write_text(markdown(table))
    csv_frame = raw.copy() if raw is not None else table
    if raw is not None:
        csv_frame.columns = ["/".join(map(str, c)) for c in raw.columns]
    csv_frame.to_csv(csv)
    tex.write_text(latex(table, caption))
    return [md, csv, tex]
