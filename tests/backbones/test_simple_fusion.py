"""Concat and late fusion: a masked modality's input can never change a prediction."""

import pytest
import torch

from mmc.data.batch import Batch
from mmc.engine.model import build_model


@pytest.mark.parametrize("backbone", ["concat", "late"])
def test_masked_input_does_not_change_predictions(compose, backbone):
    from mmc.data.build import build_dataset

    cfg = compose(f"backbone={backbone}")
    data = build_dataset(cfg)
    model = build_model(cfg, data).eval()
    b = data.test.batch(slice(0, 16))
    mask = {"m0": torch.ones(16, dtype=torch.bool), "m1": torch.arange(16) % 2 == 0}
    changed = dict(b.x)
    changed["m1"] = b.x["m1"] + 100 * torch.randn_like(b.x["m1"]) * (~mask["m1"]).unsqueeze(1)
    with torch.no_grad():
        a = model(Batch(b.x, mask, b.y, b.labelled)).logits
        c = model(Batch(changed, mask, b.y, b.labelled)).logits
    assert torch.equal(a, c)


def test_late_fusion_averages_only_observed_modalities(compose):
    from mmc.data.build import build_dataset

    cfg = compose("backbone=late")
    data = build_dataset(cfg)
    model = build_model(cfg, data).eval()
    b = data.test.batch(slice(0, 8))
    only_m0 = {"m0": torch.ones(8, dtype=torch.bool), "m1": torch.zeros(8, dtype=torch.bool)}
    with torch.no_grad():
        emb = model.encode(b.x, only_m0)
        fused = model.backbone(emb, only_m0).logits
        alone = model.backbone.heads["m0"](emb["m0"])
    assert torch.allclose(fused, alone)
