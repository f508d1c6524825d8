"""The collapse numbers of a run and the table printed at its end."""

from __future__ import annotations

import math


def collapse_numbers(
    unimodal: dict[str, dict[str, float]],
    test_masked: dict[str, dict[str, float]],
    test: dict[str, float],
    monitor: str,
    info: dict,
) -> dict:
    """Weakest/strongest modality by *measured* unimodal strength (declared ones otherwise).

    gap = (weakest modality alone, own encoder) - (fused model with the strongest masked):
    how much of the weak modality's own signal the fused model fails to use.
    """
    scores = {m: r.get(monitor, math.nan) for m, r in unimodal.items()}
    scores = {m: s for m, s in scores.items() if not math.isnan(s)}
    if len(scores) >= 2:
        weakest, strongest = min(scores, key=scores.get), max(scores, key=scores.get)
        source = "measured"
    elif "weakest" in info and "strongest" in info:
        weakest, strongest, source = info["weakest"], info["strongest"], "declared"
    else:
        return {}
    weak_alone = scores.get(weakest, math.nan)
    fused_no_strong = test_masked[strongest][monitor]
    return {
        "metric": monitor,
        "ranking": source,
        "weakest": weakest,
        "strongest": strongest,
        "fused_all": test[monitor],
        "weak_unimodal": weak_alone,
        "fused_strong_masked": fused_no_strong,
        "gap": weak_alone - fused_no_strong,
    }


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4f}"
    return str(v)


def format_summary(s: dict) -> str:
    c, metric = s["choices"], s["monitor"]
    rows = [
        (f"test {metric}, all modalities", s["test"].get(metric)),
        *((f"test {metric}, {m} masked", r.get(metric)) for m, r in s["test_masked"].items()),
        *((f"contribution of {m}", v) for m, v in s["contribution"].items()),
        *((f"unimodal {m} alone", r.get(metric)) for m, r in s["unimodal"].items()),
        *((f"effective rank, {m}", r.get("effective")) for m, r in s["rank"].items()),
    ]
    col = s.get("collapse") or {}
    if col and not math.isnan(col["weak_unimodal"]):
        rows += [
            (f"collapse: weakest ({col['weakest']}) alone", col["weak_unimodal"]),
            (f"collapse: fused, strongest ({col['strongest']}) masked", col["fused_strong_masked"]),
            ("collapse gap (weak alone - fused w/o strongest)", col["gap"]),
        ]
    width = max(len(r[0]) for r in rows)
    title = f"mmc summary: {c['dataset']} / {c['backbone']} / {c['remedy']}, seed {s['seed']}, best epoch {s['best_epoch']}"
    lines = [title, "-" * max(len(title), width + 10)]
    lines += [f"{name:<{width}}  {_fmt(v)}" for name, v in rows]
    lines.append(f"outputs: {s['run_dir']}")
    return "\n".join(lines)
