"""Wilcoxon signed-rank + Holm–Bonferroni of mmc.report.stats, checked by hand and
against scipy/statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon
from statsmodels.stats.multitest import multipletests

from mmc.errors import DataError
from mmc.report.stats import paired_tests

RATES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
REF = np.array([0.80, 0.82, 0.79, 0.85, 0.81, 0.83])
# Differences ref - other with distinct magnitudes 0.01..0.06, so exact p-values are known:
#   all six positive      -> T- = 0 -> two-sided p = 2 * 1/64 = 0.03125
#   smallest one negative -> T- = 1 -> two-sided p = 2 * 2/64 = 0.0625
#   all six negative      -> T+ = 0 -> p = 0.03125
DIFFS = {
    "B": np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06]),
    "C": np.array([-0.01, 0.02, 0.03, 0.04, 0.05, 0.06]),
    "D": -np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06]),
}


def _runs(shuffle: bool = True) -> pd.DataFrame:
    rows = [{"method": "A", "missing_rate": r, "seed": 0, "m": v} for r, v in zip(RATES, REF)]
    for name, d in DIFFS.items():
        rows += [
            {"method": name, "missing_rate": r, "seed": 0, "m": v} for r, v in zip(RATES, REF - d)
        ]
    frame = pd.DataFrame(rows)
    # Pairs must be matched on the axis values, not on row order.
    return frame.sample(frac=1.0, random_state=0) if shuffle else frame


def test_exact_p_values_and_holm_by_hand():
    table = paired_tests(_runs(), "A", "m", ["missing_rate"]).set_index("method")
    assert table.loc["B", "p"] == pytest.approx(0.03125)
    assert table.loc["C", "p"] == pytest.approx(0.0625)
    assert table.loc["D", "p"] == pytest.approx(0.03125)
    assert table.loc["B", "statistic"] == 0 and table.loc["C", "statistic"] == 1
    # Holm on [0.03125, 0.03125, 0.0625]: 3*0.03125 = 0.09375, then max(0.09375, 2*0.03125),
    # then max(0.09375, 1*0.0625): every adjusted p is 0.09375; none rejected at 0.05.
    assert table["p_holm"].tolist() == pytest.approx([0.09375] * 3)
    assert not table["reject"].any()
    assert table.loc["B", "n_pairs"] == 6
    assert table.loc["B", "median_diff"] == pytest.approx(0.035)


def test_matches_scipy_and_statsmodels_on_noisy_data():
    rng = np.random.default_rng(0)
    rows = []
    for method, shift in (("ref", 0.0), ("x", -0.02), ("y", -0.005), ("z", 0.001)):
        for rate in (0.1, 0.3, 0.5, 0.7):
            for seed in range(4):
                rows.append({"method": method, "missing_rate": rate, "seed": seed,
                             "auroc": 0.8 + shift + rng.normal(0, 0.01)})  # fmt: skip
    runs = pd.DataFrame(rows)
    table = paired_tests(runs, "ref", "auroc", ["missing_rate", "seed"], alpha=0.05)
    wide = runs.pivot_table(index=["missing_rate", "seed"], columns="method", values="auroc")
    expected_p = [wilcoxon(wide["ref"], wide[m]).pvalue for m in ("x", "y", "z")]
    assert table["p"].tolist() == pytest.approx(expected_p)
    reject, adjusted, _, _ = multipletests(expected_p, alpha=0.05, method="holm")
    assert table["p_holm"].tolist() == pytest.approx(adjusted.tolist())
    assert table["reject"].tolist() == reject.tolist()
    assert table.set_index("method").loc["x", "reject"]  # a 0.02 shift over 16 pairs is found


def test_identical_results_give_no_p_value_and_bad_reference_is_an_error():
    runs = _runs(shuffle=False)
    same = runs[runs.method == "A"].assign(method="copy")
    table = paired_tests(pd.concat([runs, same]), "A", "m", ["missing_rate"]).set_index("method")
    assert np.isnan(table.loc["copy", "p"]) and np.isnan(table.loc["copy", "p_holm"])
    # The other three still get Holm over three tests, not four.
    assert table.loc["B", "p_holm"] == pytest.approx(0.09375)
    with pytest.raises(DataError, match="not a method"):
        paired_tests(runs, "nope", "m", ["missing_rate"])
