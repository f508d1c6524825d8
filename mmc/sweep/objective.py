"""The number a run hands back to Hydra's sweeper (Optuna and the like optimise it)."""

from __future__ import annotations

import math


def objective(summary: dict | None) -> float:
    """The monitored metric on the VALIDATION split at the best epoch; NaN for a failed job.

    Never the test metric: a hyper-parameter search that selects on test reports an
    optimistic test number. Optuna records a NaN trial as failed and carries on.
    """
    if not summary:
        return math.nan
    value = (summary.get("val") or {}).get(summary.get("monitor"))
    return float(value) if value is not None else math.nan
