"""An encoder + head trained on one modality alone, kept at its best validation epoch.

The unimodal reference of the collapse numbers, the KD teachers and the semantic probe's
baseline are all this model.
"""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig
from torch import nn

from mmc.backbones.concat import ConcatFusion
from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.diagnostics.evaluate import labelled_metrics, predict
from mmc.engine.loop import Best, fit, train_epoch
from mmc.engine.model import build_encoder
from mmc.engine.optim import make_optimizer
from mmc.models.model import MultimodalModel, make_head


def observed_rows(split: MultimodalTensors, modality: str) -> MultimodalTensors:
    idx = split.mask[modality].nonzero(as_tuple=True)[0]
    sub = split.subset(idx)
    return MultimodalTensors(
        {modality: sub.x[modality]}, {modality: sub.mask[modality]}, sub.y, sub.labelled
    )


def unimodal_model(cfg: DictConfig, data: MultimodalDataset, modality: str) -> MultimodalModel:
    dim = cfg.model.dim
    encoders = nn.ModuleDict({modality: build_encoder(cfg, data, modality)})
    backbone = ConcatFusion([modality], dim, data.num_outputs)
    head = make_head(dim, cfg.model.head_hidden, data.num_outputs, cfg.model.dropout)
    return MultimodalModel(encoders, backbone, head)


def fit_unimodal(
    cfg: DictConfig,
    data: MultimodalDataset,
    modality: str,
    device: torch.device,
    epochs: int,
    monitor: str,
    seed_offset: int,
    patience: int | None = None,
    min_epochs: int = 0,
) -> tuple[Best, MultimodalModel]:
    """Train on the rows that observe `modality`; the model is left at its best val epoch.

    Own seed stream (seed + seed_offset * (1 + modality index)), so the result does not
    depend on how far the main run got.
    """
    train, val = observed_rows(data.train, modality), observed_rows(data.val, modality)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + seed_offset * (1 + data.modalities.index(modality)))
        model = unimodal_model(cfg, data, modality).to(device)
        opt = make_optimizer(model.parameters(), cfg)

        def run_epoch(epoch: int) -> tuple[dict, dict, float]:
            record = train_epoch(model, train, opt, cfg, data.task, epoch, None)
            if not len(val):
                return record, {}, float("nan")
            metrics = labelled_metrics(predict(model, val).logits, val, data.task)
            return record, metrics, metrics[monitor]

        best = fit(
            model, range(epochs), run_epoch, later_ties=False, patience=patience,
            min_epochs=min_epochs,
        )  # fmt: skip
        model.load_state_dict(best.state)
    return best, model


# Seed offset of the references: the stream the summary's unimodal baselines always used.
REFERENCE_SEED_OFFSET = 1_000_003


class UnimodalReferences:
    """Each modality's model trained alone, at most once per run, shared by every reader.

    The summary's unimodal strengths and collapse numbers, the KD teachers (and the student
    choice they make) and the semantic / polysemanticity diagnostics all read the same
    model. Trained for `diagnostics.unimodal_epochs` (default `train.epochs`), stopping
    early after `diagnostics.unimodal_patience` epochs without a better validation score,
    but not before `diagnostics.unimodal_min_epochs` epochs ran.
    """

    def __init__(
        self, cfg: DictConfig, data: MultimodalDataset, device: torch.device, monitor: str
    ) -> None:
        self.cfg, self.data, self.device, self.monitor = cfg, data, device, monitor
        self.epochs = cfg.diagnostics.unimodal_epochs or cfg.train.epochs
        self.patience = cfg.diagnostics.unimodal_patience
        self.min_epochs = cfg.diagnostics.unimodal_min_epochs
        self._fitted: dict[str, tuple[Best, MultimodalModel]] = {}

    def fitted(self, modality: str) -> tuple[Best, MultimodalModel]:
        """(best validation epoch, the model at that epoch); trained on first use."""
        if modality not in self._fitted:
            self._fitted[modality] = fit_unimodal(
                self.cfg, self.data, modality, self.device, self.epochs, self.monitor,
                REFERENCE_SEED_OFFSET, self.patience, self.min_epochs,
            )  # fmt: skip
        return self._fitted[modality]

    def model(self, modality: str) -> MultimodalModel:
        return self.fitted(modality)[1]

    def val_score(self, modality: str) -> float:
        return self.fitted(modality)[0].score

    def report(self) -> dict[str, dict[str, int]]:
        """Per reference trained: its best epoch and the epochs it ran (early stopping)."""
        return {
            m: {"best_epoch": best.epoch, "epochs_run": best.epochs_run}
            for m, (best, _) in self._fitted.items()
        }

    def test_metrics(self, modality: str) -> dict[str, float]:
        """Test metrics of the reference; NaN when a split has no row observing `modality`."""
        splits = {s: observed_rows(t, modality) for s, t in self.data.splits().items()}
        if min(len(t) for t in splits.values()) == 0:
            return {k: math.nan for k in ("accuracy", self.monitor)}
        test = splits["test"]
        return labelled_metrics(predict(self.model(modality), test).logits, test, self.data.task)
