"""Garbage under a False mask changes nothing, for every backbone in tests/options.py.

With identity encoders the batch values are the fusion inputs, so a large, NaN or infinite
value in a missing cell reaches the model exactly where a careless fusion would read it. The
contract (mmc.models.model.MultimodalModel) is that a backbone sees zeros under a False mask
(also after a remedy's adapt step, tests/remedies/); concat relies on it, the graph backbones
also mask themselves (tests/backbones/test_<backbone>.py).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmc.config.build import build
from mmc.data.batch import Batch
from mmc.data.build import build_dataset
from mmc.engine.model import make_head
from mmc.models.model import MultimodalModel
from tests.options import BACKBONE

DIM = 32  # the synthetic set's 8 predictive + 24 noise features: identity encoders fit


def _model(compose, tmp_path, backbone: str) -> tuple[MultimodalModel, Batch]:
    cfg = compose(
        f"backbone={backbone}", *BACKBONE[backbone], "dataset.source.n_modalities=3",
        f"model.dim={DIM}", run_dir=tmp_path,
    )  # fmt: skip
    torch.manual_seed(0)
    data = build_dataset(cfg)
    fusion = build(
        cfg.backbone, "backbone", modalities=data.modalities, dim=DIM, num_outputs=data.num_outputs
    )
    head = make_head(fusion.out_dim, cfg.model.head_hidden, data.num_outputs, 0.0)
    encoders = nn.ModuleDict({m: nn.Identity() for m in data.modalities})
    model = MultimodalModel(encoders, fusion, head, build(cfg.remedy, "remedy")).eval()
    batch = data.test.batch(slice(0, 48))
    g = torch.Generator().manual_seed(1)
    # Every pattern appears, rows with nothing observed included.
    mask = {m: torch.rand(48, generator=g) < 0.5 for m in data.modalities}
    x = {m: torch.where(mask[m][:, None], v, 0.0) for m, v in batch.x.items()}
    return model, Batch(x=x, mask=mask, y=batch.y, labelled=batch.labelled)


def _garbage(batch: Batch, value: float) -> dict[str, torch.Tensor]:
    return {m: torch.where(batch.mask[m][:, None], v, value) for m, v in batch.x.items()}


@pytest.mark.parametrize("value", [1e4, float("nan"), float("inf")])
@pytest.mark.parametrize("backbone", sorted(BACKBONE))
def test_garbage_under_a_false_mask_leaves_the_logits_unchanged(compose, tmp_path, backbone, value):
    model, batch = _model(compose, tmp_path, backbone)
    assert not all(bool(v.all()) for v in batch.mask.values())  # something is missing
    with torch.no_grad():
        clean = model(batch).logits
        dirty = model(Batch(_garbage(batch, value), batch.mask, batch.y, batch.labelled)).logits
    assert torch.isfinite(clean).all()
    torch.testing.assert_close(dirty, clean)
