import torch

from mmc.data.build import build_dataset
from mmc.diagnostics.evaluate import labelled_metrics, predict
from mmc.diagnostics.late_ensemble import ensemble_metrics
from mmc.engine.unimodal import observed_rows, unimodal_model
from mmc.train import train

THEORY = ["dataset=synthetic_theory", "model.dim=16", "model.head_hidden=8"]


def test_ensemble_is_the_product_of_the_unimodal_posteriors(compose):
    cfg = compose(*THEORY, "data.missing_rate=0.3")
    data = build_dataset(cfg)
    torch.manual_seed(0)
    models = {m: unimodal_model(cfg, data, m) for m in data.modalities}
    test = data.test
    # By hand: sum of log-softmax over the modalities each sample observes.
    total = torch.zeros(len(test), data.num_classes)
    for m, model in models.items():
        rows = observed_rows(test, m)
        total[test.mask[m]] += torch.log_softmax(predict(model, rows).logits, dim=1)
    expected = labelled_metrics(total, test, data.task)["accuracy"]
    assert ensemble_metrics(models, test, data.task)["accuracy"] == expected
    one = ensemble_metrics({"m0": models["m0"]}, observed_rows(test, "m0"), data.task)
    alone = labelled_metrics(predict(models["m0"], observed_rows(test, "m0")).logits,
                             observed_rows(test, "m0"), data.task)  # fmt: skip
    assert one["accuracy"] == alone["accuracy"]


def test_theory_run_reports_ensemble_neurons_substitutions_and_paper_semantic_gap(
    compose, tmp_path
):
    cfg = compose(
        *THEORY, "diagnostics.unimodal=false",
        "diagnostics.extra=[ensemble,neurons,substitutions,semantic_paper]", run_dir=tmp_path,
    )  # fmt: skip
    ex = train(cfg)["extra"]
    assert 0.0 <= ex["ensemble"]["ensemble"] <= 1.0 and "unimodal/m1" in ex["ensemble"]
    assert 0.0 <= ex["neurons"]["fraction"] <= 1.0
    assert abs(ex["neurons"]["share/m0"] + ex["neurons"]["share/m1"] - 1.0) < 1e-6
    # the paper's measure, from the generator's predictive / noisy factors
    assert 0.0 <= ex["neurons"]["paper/fraction"] <= 1.0
    assert ex["neurons"]["paper/entangled_noise/m1"] <= ex["neurons"]["paper/fraction"]
    assert 0.0 <= ex["neurons"]["paper_total/fraction"] <= 1.0
    for m in ("m0", "m1"):
        assert ex["neurons"][f"paper_total/noisy_effect/{m}"] >= 0.0
        assert ex["neurons"][f"paper/predictive_share/{m}"] >= 0.0
        assert ex["neurons"][f"paper/noisy_share/{m}"] <= 1.0 + 1e-9
    assert set(ex["substitutions"]) == {
        "none", "zeros", "random", "nearest", "mean", "class_mean", "late",
    }  # fmt: skip
    assert set(ex["substitutions"]["zeros"]) == {"m0", "m1", "as_observed"}
    # No missingness in this run: every fill-in leaves the as-observed test metric alone.
    assert len({round(v["as_observed"], 9) for v in ex["substitutions"].values()}) == 1
    sem = ex["semantic_paper"]
    assert sem["modality"] == "m1" and abs(sem["gap"] - (sem["prefix"] - sem["unimodal"])) < 1e-9


def test_kd_reports_the_students_probe_before_after_distillation_and_after_fusion(
    compose, tmp_path
):
    cfg = compose(
        "remedy=kd", "remedy.epochs=1", "diagnostics.unimodal_epochs=2", "remedy.nce_negatives=64",
        "dataset.source.n_train=300", "model.dim=16", "diagnostics.unimodal=false",
        run_dir=tmp_path,
    )  # fmt: skip
    probe = train(cfg)["extra"]["kd"]["student_probe"]
    assert set(probe) == {"before_distillation", "after_distillation", "after_fusion"}
    for stage in probe.values():
        assert 0.0 <= stage["accuracy"] <= 1.0 and stage["ce"] > 0
