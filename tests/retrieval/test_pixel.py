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
    # The collapse curve embeds the synthetic pixels through the frozen encoder first.
    first = summary["distill"]["collapse_curve"][0]
    assert first["iteration"] == 0
    assert first["intra_cos/image"] == pytest.approx(
        summary["collapse"]["fixed/init/intra_cos/image"], abs=1e-6
    )


def test_lors_in_pixel_space_trains_the_encoder_through_mmc_train(
    compose, karpathy_root, tiny_encoders, tmp_path
):
    """remedy=repblend_lors remedy.space=pixel: the encoder is in the experts' snapshots, in
    the matched trajectory and trained at evaluation; RepBlend's symmetric run keeps it out.
    Both report distill_s, the two sides of the symmetric / full-encoder speed ratio."""
    enc = [o.format(root=karpathy_root) for o in tiny_encoders]
    common = [
        "dataset=flickr30k", "remedy.space=pixel", *enc, "logger=none", "progress=false",
        "data.num_pairs=10", "train.epochs=2", "remedy.iterations=2", "remedy.num_experts=1",
        "remedy.expert_train_epochs=2", "remedy.batch_syn=5", "remedy.syn_steps=2",
        "remedy.log_every=1", f"remedy.expert_dir={tmp_path / 'experts'}",
        f"dataset.collapse_reference.dir={tmp_path / 'ref'}", "dataset.collapse_reference.epochs=1",
    ]  # fmt: skip
    lors = train(compose("remedy=repblend_lors", *common, tiny=False, run_dir=tmp_path / "lors"))
    sym = train(compose("remedy=repblend", *common, tiny=False, run_dir=tmp_path / "sym"))
    experts = sorted((tmp_path / "experts").glob("*/expert_000.pt"))
    keys = [set(torch.load(p, weights_only=True)[0]) for p in experts]
    assert sorted(any(k.startswith("image_encoder.") for k in ks) for ks in keys) == [False, True]
    # The LoRS run evaluates a model whose encoder moved from its initialisation.
    best = torch.load(tmp_path / "lors" / "checkpoints" / "best.pt", weights_only=False)["model"]
    from mmc.retrieval.features import TinyCNN

    init = TinyCNN(out_dim=16, image_size=24).state_dict()
    assert any(not torch.equal(best[f"image_encoder.{k}"], v) for k, v in init.items())
    for s in (lors, sym):
        assert s["timing"]["distill_s"] > 0 and s["train_set"]["pairs"] == 10
    assert lors["distill"]["symmetric"] is False and lors["distill"]["blend"] is False
    for s in (lors, sym):  # the curve in both: LoRS's reference model has the encoder in it
        assert s["distill"]["collapse_curve"][-1]["modality_gap"] == pytest.approx(
            s["collapse"]["fixed/train_set/modality_gap"], abs=1e-6
        )
    distilled = torch.load(tmp_path / "lors" / "distilled.pt", weights_only=False)
    assert distilled["img"].shape == (10, 3, 24, 24)


def test_pixel_space_without_images_is_a_config_error(compose, tmp_path):
    cfg = compose(
        "dataset=synthetic_pairs", "remedy=repblend", "remedy.space=pixel", "logger=none",
        tiny=False, run_dir=tmp_path,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="Karpathy-format"):
        train(cfg)
