import json

import pytest

from mmc.errors import ConfigError
from mmc.remedies.ebr import ExplicitBasisReallocation
from mmc.train import train
from tests.options import SMALL_EBR
from tests.remedies.conftest import SMALL


def test_interleaved_schedule_and_stop_on_plateau():
    r = ExplicitBasisReallocation(hidden=4, shared_dim=4, interleave=2, adversarial_first=True)
    assert [r.adversarial(e) for e in range(6)] == [True, True, False, False, True, True]
    r2 = ExplicitBasisReallocation(hidden=4, shared_dim=4, interleave=2, adversarial_first=False)
    assert [r2.adversarial(e) for e in range(4)] == [False, False, True, True]
    # Task loss falls between the first two adversarial blocks, then rises: blocks stop.
    for epoch, loss in zip(range(12), [2.0, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2, 1.6, 1.7, 1.0, 1.0]):
        r.on_epoch_end(epoch, {"loss/task": loss})
    assert bool(r.stopped) and not r.adversarial(12)


def test_adapter_replaces_fusion_inputs_and_keeps_missing_zero(tiny_model):
    cfg, data, model, _ = tiny_model("remedy=ebr", *SMALL_EBR, "data.missing_rate=0.5")
    batch = data.train.batch(slice(0, 50))
    out = model(batch)
    enc = model.encode(batch.x, batch.mask)
    for m in data.modalities:
        obs = batch.mask[m]
        assert not (out.emb[m][obs] - enc[m][obs]).abs().max() < 1e-6  # decoded, not the encoder's
        assert (out.emb[m][~obs] == 0).all()


def test_ebr_trains_with_adversarial_loss_in_its_blocks(compose, tmp_path):
    cfg = compose(
        "remedy=ebr", *SMALL, *SMALL_EBR, "remedy.interleave=1",
        "substitution=ebr", "train.epochs=2", "diagnostics.unimodal=false", run_dir=tmp_path,
    )  # fmt: skip
    summary = train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "loss/ebr_modality" in rows[0] and "loss/ebr_modality" not in rows[1]  # interleave=1
    assert 0.0 <= summary["test_masked"]["m0"]["accuracy"] <= 1.0


def test_ebr_substitution_without_ebr_remedy_fails_before_training(compose, tmp_path):
    with pytest.raises(ConfigError, match="needs remedy=ebr"):
        train(compose("substitution=ebr", run_dir=tmp_path))
    assert not (tmp_path / "metrics.jsonl").exists()
