"""Paired Wilcoxon signed-rank tests of one method against each other, with Holm–Bonferroni
correction over the comparisons (the collapse paper's Table 8).

Pairs are matched on the sweep axes (missing rate, and seed when both methods have it),
so each pair differs only in the method.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import wilcoxon
from statsmodels.stats.multitest import multipletests

from mmc.errors import DataError


def paired_tests(
    runs: pd.DataFrame,
    reference: str,
    metric: str,
    pair_on: list[str],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per other method: n pairs, median difference, W, p, Holm-adjusted p, reject."""
    methods = list(dict.fromkeys(runs["method"]))
    if reference not in methods:
        raise DataError(
            f"--reference {reference!r} is not a method of these runs; use one of: {', '.join(methods)}"
        )
    cells = runs.groupby(["method", *pair_on], sort=False)[metric].mean()
    ref = cells.loc[reference]
    rows = []
    for other in (m for m in methods if m != reference):
        joined = pd.concat(
            [ref, cells.loc[other]], axis=1, keys=["ref", "other"], join="inner"
        ).dropna()
        diff = joined["ref"] - joined["other"]
        row = {
            "method": other,
            "n_pairs": len(joined),
            "median_diff": diff.median() if len(diff) else math.nan,
        }
        if len(joined) < 2 or (diff == 0).all():
            # No test possible: too few pairs, or identical results.
            row.update(statistic=math.nan, p=math.nan)
        else:
            res = wilcoxon(joined["ref"], joined["other"], alternative="two-sided")
            row.update(statistic=float(res.statistic), p=float(res.pvalue))
        rows.append(row)
    table = pd.DataFrame(rows, columns=["method", "n_pairs", "median_diff", "statistic", "p"])
    tested = table["p"].notna()
    table["p_holm"], table["reject"] = math.nan, False
    if tested.any():
        reject, p_holm, _, _ = multipletests(table.loc[tested, "p"], alpha=alpha, method="holm")
        table.loc[tested, "p_holm"], table.loc[tested, "reject"] = p_holm, reject
    table.attrs.update(reference=reference, metric=metric, alpha=alpha, pair_on=pair_on)
    return table
