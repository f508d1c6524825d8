"""Mean ± std tables in the collapse paper's Table 1 format, written as Markdown/CSV/LaTeX.

Table 1 averages each method over the missingness rates and reports the spread across
them. With several seeds per rate, seeds are averaged first, so the ± is the spread over
the `across` axis, not seed noise; with one value of `across` the ± is over seeds.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

# Which direction is better, per metric: task metrics (and the collapse numbers that are task
# metrics) up; the collapse gap down. Ranks and contributions describe a model rather than
# rank it, so no direction is assumed and nothing is bolded.
HIGHER_IS_BETTER = {"test", "val", "test_masked", "unimodal"}
COLLAPSE_DIRECTION = {"gap": False, "fused_strong_masked": True, "fused_all": True,
                      "weak_unimodal": True}  # fmt: skip


def higher_is_better(metric: str) -> bool | None:
    """True/False when a larger/smaller value is better; None when neither is."""
    family, _, rest = metric.partition("/")
    if family in HIGHER_IS_BETTER:
        return True
    if family == "collapse":
        return COLLAPSE_DIRECTION.get(rest)
    return None


def header(metric: str) -> str:
    """The column title with its direction: 'test/accuracy ↑', 'collapse/gap ↓'."""
    better = higher_is_better(metric)
    return metric if better is None else f"{metric} {'↑' if better else '↓'}"


def best_method(stats: pd.DataFrame, metric: str) -> str | None:
    better, means = higher_is_better(metric), stats[(metric, "mean")]
    if better is None or not means.notna().any() or len(means) < 2:
        return None
    return str(means.idxmax() if better else means.idxmin())


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


def formatted(
    stats: pd.DataFrame, digits: int = 4, bold: dict[str, str] | None = None
) -> pd.DataFrame:
    """'0.8236 ± 0.0900' cells; `bold` {metric: method} marks a cell with ** (Markdown bold);
    column titles carry the metric's direction (↑/↓)."""
    metrics = list(dict.fromkeys(stats.columns.get_level_values(0)))
    out = pd.DataFrame(index=stats.index)
    for m in metrics:
        cells = [_fmt(a, b, digits) for a, b in zip(stats[(m, "mean")], stats[(m, "std")])]
        best = (bold or {}).get(m)
        out[header(m)] = [f"**{c}**" if i == best else c for i, c in zip(stats.index, cells)]
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
    body.columns = [
        str(c).replace("_", r"\_").replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$")
        for c in body.columns
    ]
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
