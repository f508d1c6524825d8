from types import SimpleNamespace

import pytest
import torch

from mmc.errors import ConfigError
from mmc.remedies.crd import MemoryBankNCE, info_nce
from mmc.remedies.kd import KnowledgeDistillation, distillation_stages
from mmc.train import train
from tests.remedies.conftest import SMALL

KD_FAST = [
    "remedy=kd",
    "remedy.epochs=1",
    "diagnostics.unimodal_epochs=2",
    "remedy.nce_negatives=64",
]


def test_distillation_stages_follow_the_order_option():
    ranked = ["weak", "mid", "strong"]  # weakest first
    assert distillation_stages(ranked, "weakest_to_strongest") == [["weak"], ["mid"], ["strong"]]
    assert distillation_stages(ranked, "strongest_to_weakest") == [["strong"], ["mid"], ["weak"]]
    assert distillation_stages(ranked, "strongest") == [["strong"]]
    assert distillation_stages(ranked, "simultaneous") == [ranked]
    shuffled = distillation_stages(ranked, "random", seed=3)
    assert sorted(s[0] for s in shuffled) == sorted(ranked) and all(len(s) == 1 for s in shuffled)


def test_kd_with_a_single_modality_is_a_clear_config_error():
    data = SimpleNamespace(modalities=["m0"])
    with pytest.raises(ConfigError, match="only 1 modality"):
        KnowledgeDistillation().setup(None, data, None)


def test_kd_rejects_a_student_that_teaches_itself(tiny_model):
    with pytest.raises(ConfigError, match="cannot teach itself"):
        tiny_model("remedy=kd", "remedy.student=m0", "remedy.teachers=[m0,m1]")


def test_contrastive_objectives_prefer_aligned_pairs():
    torch.manual_seed(0)
    t = torch.nn.functional.normalize(torch.randn(32, 8), dim=-1)
    other = torch.nn.functional.normalize(torch.randn(32, 8), dim=-1)
    assert info_nce(t, t, 0.1) < info_nce(other, t, 0.1)
    idx = torch.arange(32)
    bank = MemoryBankNCE(32, 8, negatives=16, temperature=0.1, momentum=0.0)
    bank(t, t, idx)  # fills both memories with t
    gen = torch.Generator().manual_seed(1)
    aligned = bank(t, t, idx, torch.Generator().manual_seed(1))
    shuffled = bank(other, t, idx, gen)
    assert aligned < shuffled


def test_kd_distils_into_the_weakest_in_the_configured_order(compose, tmp_path, monkeypatch):
    calls = []
    original = KnowledgeDistillation._distil

    def spy(self, ctx, model, split, student, teachers, uni):
        calls.append((student, list(teachers)))
        before = {t: [p.clone() for p in model.encoders[t].parameters()] for t in teachers}
        out = original(self, ctx, model, split, student, teachers, uni)
        for t in teachers:  # teachers' fusion encoders are left alone (init_teachers=false)
            assert all(torch.equal(a, b) for a, b in zip(before[t], model.encoders[t].parameters()))
        return out

    monkeypatch.setattr(KnowledgeDistillation, "_distil", spy)
    cfg = compose(
        *SMALL, *KD_FAST, "dataset.source.n_modalities=3", "dataset.source.strengths=[3.0,0.5]",
        "remedy.order=strongest_to_weakest", "train.epochs=1", "diagnostics.unimodal=false",
        run_dir=tmp_path,
    )  # fmt: skip
    from mmc.data.build import build_dataset
    from mmc.engine.model import build_model

    captured = {}
    real_build = build_model

    def keep(cfg, data):
        captured["model"] = real_build(cfg, data)
        return captured["model"]

    monkeypatch.setattr("mmc.runners.classification.build_model", keep)
    train(cfg)
    report = captured["model"].remedy.report
    strength = report["strength"]
    ranked = sorted(strength, key=strength.get)
    assert report["student"] == ranked[0]  # the weakest by *measured* strength
    assert report["stages"] == [[ranked[2]], [ranked[1]]]
    assert calls == [(ranked[0], [ranked[2]]), (ranked[0], [ranked[1]])]
    assert len(build_dataset(cfg).modalities) == 3
