"""Per-epoch validation score of a unimodal reference, trained with no early stop: shows
whether a reference sits on a plateau before it learns, and whether it is still improving
at the end of its budget (the yardstick diagnosis in docs/remedies.md, round 2).

    .venv/bin/python scripts/reference_trace.py --modality m1 --epochs 40 -- \\
        experiment=theory_collapse dataset.source.structure_seed=201 \\
        dataset.source.weak_noise_std=16 seed=0 dataset.source.seed=0
"""

from __future__ import annotations

import argparse
import sys

import torch

import mmc.engine.unimodal as unimodal
from mmc.config.compose import compose_config
from mmc.data.build import build_dataset
from mmc.diagnostics.metrics import check_monitor
from mmc.engine import loop
from mmc.errors import MmcError, check


def trace(overrides: list[str], modality: str, epochs: int) -> list[tuple[int, float, float]]:
    """(epoch, training loss, validation score) for the reference the run would train (same
    seed stream), run for `epochs` epochs with no early stop."""
    check(epochs >= 1, f"--epochs {epochs}: must be at least 1")
    cfg = compose_config(["logger=none", "progress=false", *overrides])
    data = build_dataset(cfg)
    check(
        modality in data.modalities,
        f"--modality {modality}: not a modality of this data set (it has {data.modalities})",
    )
    seen: list[tuple[int, float, float]] = []

    def recording_fit(model, epochs_, run_epoch, **kw):
        def run(epoch):
            record, val, score = run_epoch(epoch)
            seen.append((epoch, record.get("loss/total", float("nan")), score))
            return record, val, score

        return loop.fit(model, epochs_, run, **kw)

    # the reference's own fit, observed from outside: its training is not changed
    real, unimodal.fit = unimodal.fit, recording_fit
    try:
        monitor = check_monitor(cfg.train.monitor, data.task)
        unimodal.fit_unimodal(cfg, data, modality, torch.device("cpu"), epochs, monitor,
                              unimodal.REFERENCE_SEED_OFFSET, None)  # fmt: skip
    finally:
        unimodal.fit = real
    return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modality", default="m1")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--every", type=int, default=1, help="print every N-th epoch")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        seen = trace(args.overrides, args.modality, args.epochs)
    except MmcError as e:
        print(f"reference_trace: {e}", file=sys.stderr)
        return 2
    best = max(seen, key=lambda t: t[2])
    print(f"{args.modality}: best validation {best[2]:.3f} at epoch {best[0]} of {len(seen)}")
    print(" ".join(f"{e}:{s:.3f}" for e, _, s in seen[:: args.every]))
    print("training loss: " + " ".join(f"{e}:{loss:.3f}" for e, loss, _ in seen[:: args.every]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
