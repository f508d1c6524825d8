"""remedy.space=pixel through `mmc train`: synthetic images are pixels, the encoder is frozen."""

import pytest
import torch

from mmc.errors import ConfigError
from mmc.train import train


def test_pixel_space_distils_pixels_end_to_end(compose, karpathy_root, tiny_encoders, tmp_path):
    enc = [o.format(root=karpathy_root) for o in tiny_encoders]
    cfg = compose(
        "dataset=flickr30k", "remedy=repblend", "remedy.space=pixel", *enc, "logger=none",
        "progress=false", "data.num_pairs=10", "train.epochs=2", "remedy.iterations=3",
        "remedy.num_experts=2", "remedy.expert_train_epochs=2", "remedy.batch_syn=5",
        "remedy.syn_steps=2", "remedy.log_every=1", f"remedy.expert_dir={tmp_path / 'experts'}",
        tiny=False, run_dir=tmp_path / "run",
    )  # fmt: skip
    summary = train(cfg)
    assert summary["train_set"] == {"source": "distilled", "pairs": 10, "soft_similarity": True}
    assert set(summary["test"]) >= {"ir@1", "ir@5", "ir@10", "tr@1", "tr@5", "tr@10"}
    distilled = torch.load(tmp_path / "run" / "distilled.pt", weights_only=True)
    assert distilled["img"].shape == (10, 3, 24, 24) and distilled["txt"].shape == (10, 32)
    assert "train_set/concentration/image" in summary["collapse"]


def test_pixel_space_without_images_is_a_config_error(compose, tmp_path):
    cfg = compose(
        "dataset=synthetic_pairs", "remedy=repblend", "remedy.space=pixel", "logger=none",
        tiny=False, run_dir=tmp_path,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="Karpathy-format"):
        train(cfg)
