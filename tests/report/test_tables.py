"""Mean ± std tables (collapse paper Table 1 format) and their Markdown/LaTeX/CSV forms."""

from __future__ import annotations

import pandas as pd
import pytest

from mmc.report.tables import (
    best_method,
    formatted,
    higher_is_better,
    markdown,
    mean_std,
    write_table,
)


def _runs() -> pd.DataFrame:
    rows = []
    # method a: rate 0.1 seeds 0.70, 0.72 (mean 0.71); rate 0.5 seeds 0.60, 0.64 (mean 0.62)
    for rate, values in ((0.1, (0.70, 0.72)), (0.5, (0.60, 0.64))):
        rows += [
            {"method": "a", "missing_rate": rate, "seed": s, "test/auroc": v}
            for s, v in enumerate(values)
        ]
    for rate, value in ((0.1, 0.80), (0.5, 0.70)):
        rows += [
            {"method": "b", "missing_rate": rate, "seed": s, "test/auroc": value} for s in range(2)
        ]
    return pd.DataFrame(rows)


def test_seeds_are_averaged_before_the_spread_across_rates():
    stats = mean_std(_runs(), ["test/auroc"], "missing_rate")
    assert stats.attrs["over"] == "missing_rate"
    # a: cell means 0.71 and 0.62 -> mean 0.665, sample std |0.71-0.62|/sqrt(2)
    assert stats.loc["a", ("test/auroc", "mean")] == pytest.approx(0.665)
    assert stats.loc["a", ("test/auroc", "std")] == pytest.approx(0.09 / 2**0.5)
    assert stats.loc["a", ("test/auroc", "count")] == 2
    assert stats.loc["b", ("test/auroc", "mean")] == pytest.approx(0.75)


def test_one_rate_spreads_over_seeds():
    runs = _runs()
    stats = mean_std(runs[runs.missing_rate == 0.1], ["test/auroc"], "missing_rate")
    assert stats.attrs["over"] == "seed"
    assert stats.loc["a", ("test/auroc", "std")] == pytest.approx(pd.Series([0.70, 0.72]).std())


def test_directions_per_metric():
    assert higher_is_better("test/auroc") and higher_is_better("test_masked/m0/accuracy")
    assert higher_is_better("collapse/gap") is False  # a smaller collapse gap is better
    assert higher_is_better("collapse/fused_strong_masked") is True
    assert higher_is_better("rank/fused/effective") is None  # describes, does not rank
    assert higher_is_better("contribution/m0") is None
    stats = mean_std(_runs(), ["test/auroc"], "missing_rate")
    assert best_method(stats, "test/auroc") == "b"
    gaps = stats.rename(columns={"test/auroc": "collapse/gap"})
    assert best_method(gaps, "collapse/gap") == "a"  # lowest gap
    assert best_method(stats.rename(columns={"test/auroc": "rank/fused/effective"}),
                       "rank/fused/effective") is None  # fmt: skip


def test_formats(tmp_path):
    stats = mean_std(_runs(), ["test/auroc"], "missing_rate")
    plain = formatted(stats, digits=3)
    assert plain.loc["b", "test/auroc ↑"] == "0.750 ± 0.071"  # nothing bold unless told
    table = formatted(stats, digits=3, bold={"test/auroc": "b"})
    assert table.loc["a", "test/auroc ↑"] == "0.665 ± 0.064"
    assert table.loc["b", "test/auroc ↑"] == "**0.750 ± 0.071**"
    md = markdown(table)
    assert md.splitlines()[0] == "| method | test/auroc ↑ |"
    assert "| a | 0.665 ± 0.064 |" in md
    md_path, csv_path, tex_path = write_table(
        table, tmp_path / "t", "AUC over missing_rate", raw=stats
    )
    tex = tex_path.read_text()
    assert r"\textbf{0.750 $\pm$ 0.071}" in tex and r"missing\_rate" in tex
    assert r"test/auroc $\uparrow$" in tex
    csv = pd.read_csv(csv_path, index_col=0)
    assert csv.loc["a", "test/auroc/mean"] == pytest.approx(0.665)  # numbers, not strings
