"""PNG figures: a metric against a sweep axis (missing rate, noise rate, β) and rank curves
over epochs. Lines are methods; points are means over seeds, bars one std."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed on clusters
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _finish(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def metric_vs(
    runs: pd.DataFrame, x: pd.Series, metric: str, xlabel: str, path: Path, title: str = ""
) -> Path:
    frame = pd.DataFrame({"method": runs["method"], "x": x.values, "y": runs[metric].values})
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for method, part in frame.groupby("method", sort=False):
        agg = part.groupby("x")["y"].agg(["mean", "std"]).sort_index()
        ax.errorbar(
            agg.index, agg["mean"], yerr=agg["std"].fillna(0), marker="o", capsize=3, label=method
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} vs {xlabel}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _finish(fig, path)


def rank_curves(histories: pd.DataFrame, path: Path, kind: str = "effective") -> Path | None:
    """One panel per representation (each modality, fused): rank over epochs per method."""
    columns = [c for c in histories.columns if c.startswith("rank/") and c.endswith(f"/{kind}")]
    if not columns:
        return None
    # The fused representation first: it is the one that collapses.
    columns.sort(key=lambda c: (c.split("/")[1] != "fused", c))
    fig, axes = plt.subplots(1, len(columns), figsize=(4.0 * len(columns), 3.4), squeeze=False)
    for ax, column in zip(axes[0], columns):
        for method, part in histories.dropna(subset=[column]).groupby("method", sort=False):
            agg = part.groupby("epoch")[column].agg(["mean", "std"]).sort_index()
            ax.plot(agg.index, agg["mean"], label=method)
            ax.fill_between(
                agg.index,
                agg["mean"] - agg["std"].fillna(0),
                agg["mean"] + agg["std"].fillna(0),
                alpha=0.2,
            )
        ax.set_title(f"{kind} rank, {column.split('/')[1]}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{kind} rank")
    axes[0][-1].legend(fontsize=8)
    return _finish(fig, path)
