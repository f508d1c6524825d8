import json

import torch

from mmc.train import train
from tests.options import SMALL_EBR
from tests.remedies.conftest import SMALL


def _run(compose, tmp_path, *extra):
    cfg = compose(
        "remedy=ebr", *SMALL, *SMALL_EBR, "remedy.interleave=1", "train.epochs=3",
        "diagnostics.unimodal=false", *extra, run_dir=tmp_path,
    )  # fmt: skip
    return train(cfg)


def test_ebr_logs_discriminator_accuracy_and_latent_cosines_every_epoch(compose, tmp_path):
    summary = _run(compose, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        assert 0.0 <= row["ebr/disc_acc"] <= 1.0
        assert -1.0 <= row["ebr/cos_random"] <= 1.0 and -1.0 <= row["ebr/cos_same"] <= 1.0
    ebr = summary["extra"]["ebr"]
    assert [h["epoch"] for h in ebr["history"]] == [0, 1, 2]
    assert ebr["align"] == 0.0 and set(ebr["test"]) == {"cos_same", "cos_random"}
    stages = summary["extra"]["rank_stages"]
    assert {"encoders", "ebr_latent", "fused"} <= set(stages)
    assert stages["C_minus_1"] == 9  # 10 classes
    # The fused representation is decoded from a 16-d latent per modality: rank <= 32.
    assert stages["fused"]["numerical"] <= 2 * 16


def test_align_makes_same_sample_latents_closer_than_random_pairs(compose, tmp_path):
    # Small batches for enough steps: the InfoNCE term needs ~100 updates to show.
    with_align = _run(
        compose, tmp_path / "a", "remedy.align=1.0", "remedy.alpha=0",
        "train.epochs=8", "train.batch_size=32",
    )  # fmt: skip
    ebr = with_align["extra"]["ebr"]
    last = ebr["history"][-1]
    assert last["cos_same"] > last["cos_random"] + 0.15  # training batches
    assert ebr["test"]["cos_same"] > ebr["test"]["cos_random"] + 0.03  # held out
    rows = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    assert all("loss/ebr_align" in json.loads(r) for r in rows)


def test_alignment_loss_is_lower_for_aligned_latents(tiny_model):
    _, data, model, _ = tiny_model("remedy=ebr", *SMALL_EBR, "remedy.align=1.0")
    r = model.remedy
    g = torch.randn(64, 16)
    r.latent_mask = {m: torch.ones(64, dtype=torch.bool) for m in data.modalities}
    r.latents = {m: g for m in data.modalities}
    aligned = float(r.alignment_loss())
    r.latents = {m: torch.randn(64, 16) for m in data.modalities}
    assert aligned < float(r.alignment_loss()) - 1.0
