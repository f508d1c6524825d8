"""Upweighting one modality by beta (collapse paper Fig. 5: rank vs beta).

`data.modality_weight=beta` multiplies every value of `data.weighted_modality` (a name, or
weakest/strongest as the data set declares them) by beta, in every split. A larger input
scale means larger activations and gradients for that modality from the first step on, so
the fusion head is pushed to use it: the knob the paper turns to force the model to
incorporate the modality it would otherwise let collapse. beta = 1 leaves the data alone.
"""

from __future__ import annotations

from omegaconf import DictConfig

from mmc.config.modalities import resolve_modality
from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.errors import check


def upweight_modality(
    splits: dict[str, MultimodalTensors], data: MultimodalDataset, d: DictConfig
) -> dict[str, MultimodalTensors]:
    beta = float(d.modality_weight)
    check(beta > 0, f"data.modality_weight={beta} must be > 0 (1 = unchanged)")
    if beta == 1.0:
        return splits
    m = resolve_modality(d.weighted_modality, data.modalities, data.info, "data.weighted_modality")
    check(
        data.train.x[m].is_floating_point(),
        f"data.weighted_modality={m} holds integer codes; upweighting needs a continuous modality",
    )
    data.info["weighted_modality"] = {"modality": m, "beta": beta}
    out = {}
    for name, s in splits.items():
        xs = dict(s.x)
        xs[m] = s.x[m] * beta
        out[name] = MultimodalTensors(xs, s.mask, s.y, s.labelled)
    return out
