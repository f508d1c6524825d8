"""Paper figures of a sweep, each written as PNG, PDF and SVG.

Conventions every figure follows: one panel per value of each swept axis other than the
method (a missing rate is never pooled with another); lines/bars are methods; points are
means over seeds and the band or error bar is one standard deviation, stated in the title
with the number of seeds; panels that compare one quantity share their y-axis; modalities
are named with their role (strongest/weakest, by unimodal strength).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed on clusters
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

FORMATS = ("png", "pdf", "svg")
METRIC_WORDS = {"accuracy": "accuracy", "auroc": "AUC-ROC", "auprc": "AUC-PR"}
COLLAPSE_WORDS = {
    "collapse/gap": "collapse gap (weakest alone − fused, strongest masked)",
    "collapse/fused_strong_masked": "fused, strongest modality masked",
    "collapse/weak_unimodal": "weakest modality alone",
    "rank/fused/effective": "fused effective rank (dimensions)",
}
# Axes whose values are fractions of samples: shown in percent.
PERCENT_AXES = ("missing", "noise_rate")
MARKERS = "osD^v<>P*X"


def _finish(fig, path: Path) -> Path:
    """Save `path` (.png) with its .pdf and .svg beside it; returns the PNG path."""
    fig.tight_layout()
    for fmt in FORMATS:
        fig.savefig(path.with_suffix(f".{fmt}"), dpi=130 if fmt == "png" else None)
    plt.close(fig)
    return path.with_suffix(".png")


def metric_words(metric: str) -> str:
    """test/accuracy -> 'test accuracy'; test_masked/m0/auroc -> 'test AUC-ROC, m0 masked'."""
    parts = metric.split("/")
    name = METRIC_WORDS.get(parts[-1], parts[-1].replace("_", " "))
    if parts[0] == "test_masked" and len(parts) == 3:
        return f"test {name}, {parts[1]} masked"
    if parts[0] in ("test", "val"):
        return f"{parts[0]} {name}"
    return COLLAPSE_WORDS.get(metric, metric)


def axis_words(axis: str) -> str:
    """A swept column as an axis label with its unit."""
    if axis == "missing_rate":
        return "missing rate (% of samples per modality)"
    if axis == "noise_rate":
        return "noise rate (% of the feature range)"
    if "missing" in axis:
        return f"{axis.rsplit('.', 1)[-1].replace('_', ' ')} (% of samples)"
    if axis == "beta":
        return "β (modality weight)"
    return axis


def _scale(axis: str) -> float:
    return 100.0 if any(w in axis for w in PERCENT_AXES) else 1.0


def facet_label(axis: str, value) -> str:
    if _scale(axis) == 100.0:
        return f"{axis_words(axis).split(' (')[0]} {float(value) * 100:g}%"
    return f"{axis} = {value}"


def seeds_text(counts: pd.Series) -> str:
    """'mean ± std over 3 seeds' (or '1–3 seeds' when cells differ)."""
    lo, hi = int(counts.min()), int(counts.max())
    n = f"{lo}" if lo == hi else f"{lo}–{hi}"
    return f"mean ± std over {n} seed{'s' if hi > 1 else ''}"


def modality_roles(runs: pd.DataFrame) -> dict[str, str]:
    """{"m0": "strongest", "m1": "weakest"}: the majority over runs of the measured unimodal
    ranking (collapse/*), else of the model's own reliance (val_masked/*)."""
    for prefix in ("collapse", "val_masked"):
        s, w = f"{prefix}/strongest", f"{prefix}/weakest"
        if s in runs and w in runs and runs[s].notna().any():
            return {runs[s].mode().iloc[0]: "strongest", runs[w].mode().iloc[0]: "weakest"}
    return {}


def modality_label(m: str, roles: dict[str, str]) -> str:
    return f"{m} ({roles[m]})" if m in roles else m


def _facets(frame: pd.DataFrame, axes: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """[(panel title, rows)] for every combination of the facet axes' values."""
    axes = [a for a in axes if a in frame]
    if not axes:
        return [("", frame)]
    out = []
    for values, part in frame.groupby(axes, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        out.append((", ".join(facet_label(a, v) for a, v in zip(axes, values)), part))
    return out


def _colors(methods: list[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(methods)}


def metric_vs(
    runs: pd.DataFrame, x: pd.Series, metric: str, axis: str, path: Path, title: str = ""
) -> Path:
    """One metric against one sweep axis; lines are methods."""
    frame = pd.DataFrame({"method": runs["method"], "x": x.values * _scale(axis),
                          "y": runs[metric].values})  # fmt: skip
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    counts = frame.groupby(["method", "x"]).size()
    for i, (method, part) in enumerate(frame.groupby("method", sort=False)):
        agg = part.groupby("x")["y"].agg(["mean", "std"]).sort_index()
        ax.errorbar(agg.index, agg["mean"], yerr=agg["std"].fillna(0), marker=MARKERS[i % 10],
                    capsize=3, label=method)  # fmt: skip
    ax.set_xlabel(axis_words(axis))
    ax.set_ylabel(metric_words(metric))
    ax.set_title(f"{title or metric_words(metric)}\n({seeds_text(counts)})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title="method", fontsize=8)
    return _finish(fig, path)


def _band(ax, agg: pd.DataFrame, **style) -> None:
    ax.plot(agg.index, agg["mean"], **style)
    ax.fill_between(agg.index, agg["mean"] - agg["std"].fillna(0),
                    agg["mean"] + agg["std"].fillna(0), alpha=0.15, color=style.get("color"))  # fmt: skip


def rank_curves(
    histories: pd.DataFrame,
    path: Path,
    facets: list[str],
    roles: dict[str, str],
    kind: str = "effective",
) -> Path | None:
    """Rank over epochs: a row per representation (fused, then each modality), a column per
    facet value (e.g. missing rate); lines are methods; rows share their y-axis."""
    columns = [c for c in histories.columns if c.startswith("rank/") and c.endswith(f"/{kind}")]
    if not columns:
        return None
    # Fused first (it is the one that collapses), then strongest before weakest.
    order = {"fused": 0, "strongest": 1, "weakest": 2}
    columns.sort(key=lambda c: (order.get(roles.get(c.split("/")[1], c.split("/")[1]), 3), c))
    panels = _facets(histories, facets)
    methods = list(dict.fromkeys(histories["method"]))
    colors = _colors(methods)
    fig, axes = plt.subplots(len(columns), len(panels), figsize=(3.6 * len(panels) + 0.6,
                             2.7 * len(columns) + 0.6), squeeze=False, sharex=True, sharey="row")  # fmt: skip
    counts = histories.groupby(["method", *[f for f in facets if f in histories]])["run_dir"]
    for j, (title, part) in enumerate(panels):
        for i, column in enumerate(columns):
            ax = axes[i][j]
            for method, rows in part.dropna(subset=[column]).groupby("method", sort=False):
                agg = rows.groupby("epoch")[column].agg(["mean", "std"]).sort_index()
                _band(ax, agg, color=colors[method], label=method)
            who = column.split("/")[1]
            ax.set_title(f"{title}\n{modality_label(who, roles)}" if title else modality_label(who, roles), fontsize=9)  # fmt: skip
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if j == 0:
                ax.set_ylabel(f"{kind} rank (dimensions)")
            if i == len(columns) - 1:
                ax.set_xlabel("epoch")
    axes[0][-1].legend(title="method", fontsize=8, title_fontsize=8)
    fig.suptitle(f"{kind.capitalize()} rank of each representation during training "
                 f"({seeds_text(counts.nunique())})", fontsize=11)  # fmt: skip
    return _finish(fig, path)


def contribution_curves(
    histories: pd.DataFrame, path: Path, facets: list[str], roles: dict[str, str], monitor: str
) -> Path | None:
    """Each modality's contribution (val metric drop when it is masked) over epochs: a panel
    per facet value; colour = method, line style = modality; shared y-axis."""
    columns = sorted(c for c in histories.columns if c.startswith("contribution/"))
    if not columns:
        return None
    columns.sort(key=lambda c: {"strongest": 0, "weakest": 1}.get(roles.get(c.split("/")[1]), 2))
    panels = _facets(histories, facets)
    methods = list(dict.fromkeys(histories["method"]))
    colors = _colors(methods)
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels) + 0.6, 3.6),
                             squeeze=False, sharey=True)  # fmt: skip
    counts = histories.groupby(["method", *[f for f in facets if f in histories]])["run_dir"]
    for j, (title, part) in enumerate(panels):
        ax = axes[0][j]
        for method, rows in part.groupby("method", sort=False):
            for k, column in enumerate(columns):
                agg = rows.dropna(subset=[column]).groupby("epoch")[column].agg(["mean", "std"])
                m = column.split("/")[1]
                _band(ax, agg.sort_index(), color=colors[method], linestyle=styles[k % 4],
                      label=f"{method} · {modality_label(m, roles)}")  # fmt: skip
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    name = METRIC_WORDS.get(monitor, monitor)
    axes[0][0].set_ylabel(f"contribution (drop in val {name}\nwhen the modality is masked)")
    axes[0][-1].legend(title="method · modality", fontsize=8, title_fontsize=8,
                       loc="center left", bbox_to_anchor=(1.02, 0.5))  # fmt: skip
    fig.suptitle(f"Per-modality contribution during training ({seeds_text(counts.nunique())})",
                 fontsize=11)  # fmt: skip
    return _finish(fig, path)


def masked_vs(
    runs: pd.DataFrame, axis: str, monitor: str, roles: dict[str, str], path: Path
) -> Path | None:
    """Test metric against a missing rate: all modalities / strongest masked / weakest masked
    (three panels, shared y-axis); lines are methods."""
    by_role = {r: m for m, r in roles.items()}
    panels = [("no modality masked", f"test/{monitor}")]
    for role in ("strongest", "weakest"):
        if role in by_role and f"test_masked/{by_role[role]}/{monitor}" in runs:
            m = by_role[role]
            panels.append((f"{role} ({m}) masked", f"test_masked/{m}/{monitor}"))
    if len(panels) < 2 or f"test/{monitor}" not in runs:
        return None
    x = pd.to_numeric(runs[axis]) * _scale(axis)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels) + 0.4, 3.6),
                             squeeze=False, sharey=True)  # fmt: skip
    counts = runs.groupby(["method", axis]).size()
    for ax, (title, column) in zip(axes[0], panels):
        frame = pd.DataFrame({"method": runs["method"], "x": x, "y": runs[column]})
        for i, (method, part) in enumerate(frame.groupby("method", sort=False)):
            agg = part.groupby("x")["y"].agg(["mean", "std"]).sort_index()
            ax.errorbar(agg.index, agg["mean"], yerr=agg["std"].fillna(0),
                        marker=MARKERS[i % 10], capsize=3, label=method)  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(axis_words(axis))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"test {METRIC_WORDS.get(monitor, monitor)}")
    axes[0][-1].legend(title="method", fontsize=8)
    fig.suptitle(f"Test {METRIC_WORDS.get(monitor, monitor)} with a modality masked "
                 f"({seeds_text(counts)})", fontsize=11)  # fmt: skip
    return _finish(fig, path)


def unimodal_vs_fused(
    runs: pd.DataFrame, facets: list[str], monitor: str, roles: dict[str, str], path: Path
) -> Path | None:
    """Bars per method: the fused model (all modalities, each one masked) beside each
    modality trained alone (its own encoder and head); a panel per facet value."""
    mods = sorted({c.split("/")[1] for c in runs.columns
                   if c.startswith("unimodal/") and c.endswith(f"/{monitor}")},
                  key=lambda m: {"strongest": 0, "weakest": 1}.get(roles.get(m), 2))  # fmt: skip
    if not mods or f"test/{monitor}" not in runs:
        return None
    bars = [("fused, all modalities", f"test/{monitor}")]
    bars += [(f"fused, {modality_label(m, roles)} masked", f"test_masked/{m}/{monitor}")
             for m in mods if f"test_masked/{m}/{monitor}" in runs]  # fmt: skip
    bars += [(f"{modality_label(m, roles)} alone", f"unimodal/{m}/{monitor}") for m in mods]
    panels = _facets(runs, facets)
    methods = list(dict.fromkeys(runs["method"]))
    panel_width = max(3.0, 0.32 * len(methods) * len(bars))
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_width * len(panels) + 2.6, 3.9),
                             squeeze=False, sharey=True)  # fmt: skip
    width = 0.8 / len(bars)
    cmap = plt.get_cmap("tab10")
    counts = runs.groupby(["method", *[f for f in facets if f in runs]]).size()
    for ax, (title, part) in zip(axes[0], panels):
        for k, (label, column) in enumerate(bars):
            agg = part.groupby("method", sort=False)[column].agg(["mean", "std"]).reindex(methods)
            hatch = "//" if "alone" in label else None
            ax.bar(np.arange(len(methods)) + (k - (len(bars) - 1) / 2) * width, agg["mean"],
                   width, yerr=agg["std"].fillna(0), capsize=2, color=cmap(k), hatch=hatch,
                   edgecolor="white", label=label)  # fmt: skip
        ax.set_xticks(np.arange(len(methods)), methods)
        ax.set_xlabel("method")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel(f"test {METRIC_WORDS.get(monitor, monitor)}")
    axes[0][-1].legend(title="evaluated", fontsize=8, title_fontsize=8, loc="center left",
                       bbox_to_anchor=(1.02, 0.5))  # fmt: skip
    fig.suptitle(f"Fused model vs each modality alone ({seeds_text(counts)})", fontsize=11)
    return _finish(fig, path)


def similarity_heatmap(sim, path: Path, title: str, size: int = 100) -> Path:
    """A retrieval similarity matrix (first `size` pairs): image index down, caption index
    across, a colour bar with its meaning."""
    s = np.asarray(sim, dtype=float)[:size, :size]
    fig, ax = plt.subplots(figsize=(5.0, 4.3))
    im = ax.imshow(s, cmap="viridis", interpolation="nearest")
    ax.set_xlabel("caption (text) index")
    ax.set_ylabel("image index")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="similarity target")
    return _finish(fig, path)


def dashboard(
    runs: pd.DataFrame,
    histories: pd.DataFrame,
    axis: str | None,
    roles: dict[str, str],
    monitor: str,
    path: Path,
) -> Path | None:
    """One page that shows collapse: (a) the collapse curve (val metric, all modalities vs
    the strongest masked, over epochs), (b) contributions over epochs, (c) fused effective
    rank over epochs, all at the highest value of `axis` (e.g. the missing rate), and
    (d) test metric with the strongest masked against `axis`."""
    by_role = {r: m for m, r in roles.items()}
    strong = by_role.get("strongest")
    full_key, masked_key = f"val_probe/{monitor}", f"val_masked/{strong}/{monitor}"
    if strong is None or masked_key not in histories or full_key not in histories:
        return None
    name = METRIC_WORDS.get(monitor, monitor)
    at = histories
    where = ""
    if axis and axis in histories:
        top = histories[axis].max()
        at, where = histories[histories[axis] == top], f" ({facet_label(axis, top)})"
    methods = list(dict.fromkeys(runs["method"]))
    colors = _colors(methods)
    fig, axes = plt.subplots(2, 2, figsize=(10.5, 7.2))
    (a, b), (c, d) = axes
    d.sharey(a)  # both are the task metric (val, test): one scale
    counts = at.groupby("method")["run_dir"].nunique()
    for method, rows in at.groupby("method", sort=False):
        col = colors[method]
        for key, style, label in ((full_key, "-", "all modalities"),
                                  (masked_key, "--", f"{strong} (strongest) masked")):  # fmt: skip
            agg = rows.dropna(subset=[key]).groupby("epoch")[key].agg(["mean", "std"])
            _band(a, agg.sort_index(), color=col, linestyle=style, label=f"{method} · {label}")
        for k, m in enumerate(sorted(by_role.values(), key=lambda m: roles[m] != "strongest")):
            key = f"contribution/{m}"
            if key in rows:
                agg = rows.dropna(subset=[key]).groupby("epoch")[key].agg(["mean", "std"])
                _band(b, agg.sort_index(), color=col, linestyle=["-", "--"][k % 2],
                      label=f"{method} · {modality_label(m, roles)}")  # fmt: skip
        if "rank/fused/effective" in rows:
            agg = (
                rows.dropna(subset=["rank/fused/effective"])
                .groupby("epoch")["rank/fused/effective"]
                .agg(["mean", "std"])
            )
            _band(c, agg.sort_index(), color=col, label=method)
    a.set_title(f"(a) the collapse curve{where}", fontsize=10)
    a.set_ylabel(f"val {name}")
    b.set_title(f"(b) contribution{where}", fontsize=10)
    b.set_ylabel(f"drop in val {name} when masked")
    c.set_title(f"(c) fused representation{where}", fontsize=10)
    c.set_ylabel("effective rank (dimensions)")
    for ax, title in ((a, "method · evaluated"), (b, "method · modality"), (c, "method")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(title=title, fontsize=7, title_fontsize=7)
    key = f"test_masked/{strong}/{monitor}"
    if axis and key in runs and f"test/{monitor}" in runs:
        x = pd.to_numeric(runs[axis]) * _scale(axis)
        for i, (method, part) in enumerate(runs.assign(_x=x).groupby("method", sort=False)):
            for column, style, label in ((f"test/{monitor}", "-", "all modalities"),
                                         (key, "--", f"{strong} masked")):  # fmt: skip
                agg = part.groupby("_x")[column].agg(["mean", "std"]).sort_index()
                d.errorbar(agg.index, agg["mean"], yerr=agg["std"].fillna(0), capsize=3,
                           marker=MARKERS[i % 10], linestyle=style, color=colors[method],
                           label=f"{method} · {label}")  # fmt: skip
        d.set_xlabel(axis_words(axis))
        d.legend(title="method · evaluated", fontsize=7, title_fontsize=7)
    d.set_title("(d) test, by missing rate", fontsize=10)
    d.set_ylabel(f"test {name}")
    d.grid(alpha=0.3)
    fig.suptitle(f"Collapse at a glance: {', '.join(methods)} "
                 f"({seeds_text(counts)})", fontsize=11)  # fmt: skip
    return _finish(fig, path)
