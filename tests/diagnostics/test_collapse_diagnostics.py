"""The per-epoch collapse diagnostics' shortcuts give what the plain computation gives.

Shortcuts (mmc/diagnostics/evaluate.py): the modalities' Gram matrices as blocks of the fused
one when the fused representation is the encodings side by side, and one stacked forward pass
for all masked variants when the model's rows are independent. The reference here is the plain
computation: an SVD of each matrix, one masked pass per modality.
"""

from __future__ import annotations

import math

import pytest
import torch

from mmc.data.build import build_dataset
from mmc.diagnostics import evaluate as ev
from mmc.diagnostics.metrics import check_monitor
from mmc.diagnostics.rank import centred, stats_of
from mmc.engine.model import build_model
from mmc.remedies.substitution import make_substitution

RTOL = 0.01


def reference(model, pred: ev.Predictions, task: str, monitor: str) -> dict[str, float]:
    out: dict[str, float] = {}

    def ranks(who: str, z: torch.Tensor) -> None:
        s = torch.linalg.svdvals(centred(z))
        out.update({f"rank/{who}/{k}": v for k, v in stats_of(s, RTOL).items()})

    for m, e in pred.enc.items():
        observed = pred.split.mask[m]
        if int(observed.sum()) >= 2:
            ranks(m, e[observed])
    ranks("fused", pred.z)
    full = ev.labelled_metrics(pred.logits, pred.split, task)
    out.update({f"val_probe/{k}": v for k, v in full.items()})
    for m in pred.enc:
        masked = ev.masked_metrics(model, pred, task, m)  # one pass for this modality alone
        out.update({f"val_masked/{m}/{k}": v for k, v in masked.items()})
        out[f"contribution/{m}"] = full[monitor] - masked[monitor]
    return out


# (overrides, Gram blocks shared, masked variants stacked)
CASES = {
    "concat": ([], True, True),
    "late": (["backbone=late"], True, True),
    "concat_missing": (["data.missing_rate=0.3"], False, True),
    "shaspec": (["backbone=shaspec", "data.missing_rate=0.3"], False, False),
    "concat_substitution": (["substitution=mean", "data.missing_rate=0.3"], False, False),
    # made binary, with some validation rows unlabelled, below
    "binary_three_modalities": (
        ["dataset.source.num_classes=2", "dataset.source.n_modalities=3"],
        True,
        True,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_shortcuts_match_the_plain_computation(compose, tmp_path, case):
    overrides, blocks, stacked = CASES[case]
    cfg = compose(*overrides, run_dir=tmp_path)
    torch.manual_seed(0)
    data = build_dataset(cfg)
    if case.startswith("binary"):
        data.task = "binary"  # a one-logit head: AUROC/AUPRC and the squeezed logits
        data.val.labelled[::7] = False
    model = build_model(cfg, data)
    sub = make_substitution(cfg.substitution, model)
    if sub is not None:
        sub.fit(model, data, torch.device("cpu"))
        model.substitution = sub
    model.train()
    pred = ev.predict(model, data.val)
    monitor = check_monitor(cfg.train.monitor, data.task)

    got = ev.collapse_diagnostics(model, pred, data.task, monitor, RTOL)
    want = reference(model, pred, data.task, monitor)

    with ev.eval_mode(model):  # the shortcut this case is meant to take is the one taken
        assert (ev._concat_grams(pred) is not None) == blocks
        assert model.rows_independent == stacked
    assert model.training  # and the model is back in training mode
    assert list(got) == list(want)
    assert ("val_masked/m2/auroc" in got) == case.startswith("binary")
    for k, v in want.items():
        if k.startswith("rank/") and k.endswith("/effective"):
            # Gram eigenvalues vs SVD: both float64, ~1e-9 apart (sqrt of rounding noise)
            assert math.isclose(got[k], v, rel_tol=1e-6), k
        else:  # numerical ranks, metrics computed from identical logits
            assert got[k] == v or (math.isnan(got[k]) and math.isnan(v)), k


def test_whole_split_probe_shares_validation_metrics(compose, tmp_path):
    """Passing validation's own metrics as `full` gives the record computing them would."""
    cfg = compose(run_dir=tmp_path)
    data = build_dataset(cfg)
    model = build_model(cfg, data)
    pred = ev.predict(model, data.val)
    monitor = check_monitor(cfg.train.monitor, data.task)
    full = ev.labelled_metrics(pred.logits, data.val, data.task)
    shared = ev.collapse_diagnostics(model, pred, data.task, monitor, RTOL, full=full)
    assert shared == ev.collapse_diagnostics(model, pred, data.task, monitor, RTOL)
