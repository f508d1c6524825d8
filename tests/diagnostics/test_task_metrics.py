import math

import torch
from sklearn.metrics import roc_auc_score

from mmc.diagnostics.metrics import task_loss, task_metrics


def test_binary_metrics_and_single_class_nan():
    logits, y = torch.tensor([2.0, -1.0, 0.5, -3.0]), torch.tensor([1, 0, 0, 0])
    m = task_metrics(logits, y, "binary")
    assert math.isclose(m["auroc"], roc_auc_score(y.numpy(), logits.numpy()))
    assert math.isclose(m["accuracy"], 0.75)
    assert math.isnan(task_metrics(logits, torch.zeros(4), "binary")["auroc"])


def test_unlabelled_rows_do_not_enter_the_loss():
    logits = torch.randn(6, 3, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0, 0, 0])
    labelled = torch.tensor([True, True, True, False, False, False])
    task_loss(logits, y, labelled, "multiclass").backward()
    assert (logits.grad[3:] == 0).all() and (logits.grad[:3] != 0).any()
    assert task_loss(logits, y, torch.zeros(6, dtype=torch.bool), "multiclass").item() == 0.0
