"""`mmc train dataset=mimic` end to end on the demo, and what its data carries."""

import logging

import pytest
from mimic_helpers import mimic_overrides

from mmc.data.mimic.dataset import load_mimic
from mmc.train import train


def test_concat_run_on_the_demo_reports_cohort_and_says_notes_are_missing_once(
    compose, demo_root, demo_cache, tmp_path, caplog
):
    cfg = compose(
        *mimic_overrides(demo_root, demo_cache, "backbone=concat"), tiny=False, run_dir=tmp_path
    )
    with caplog.at_level(logging.WARNING, logger="mmc"):
        summary = train(cfg)
    assert summary["status"] == "completed"
    assert summary["modalities"] == [
        "notes",
        "labs",
        "demographics",
        "diagnoses",
        "procedures",
        "medications",
    ]
    data = summary["data"]
    assert data["cohort"] == {"admissions": 201, "patients": data["cohort"]["patients"]}
    assert data["labels"]["mortality"] == {"positive": 10, "negative": 91, "unlabelled": 100}
    assert data["labels"]["readmission"] == {"positive": 27, "negative": 108, "unlabelled": 66}
    assert sum(data["natural_missingness"].values()) == sum(
        c["admissions"] for c in data["split_counts"].values()
    )
    notes_warnings = [r for r in caplog.records if "notes modality is missing" in r.getMessage()]
    assert len(notes_warnings) == 1


def test_unlabelled_admissions_stay_in_train_only(demo_root, demo_cache):
    data = load_mimic(root=str(demo_root), cache_dir=str(demo_cache), task="mortality")
    assert bool(data.val.labelled.all()) and bool(data.test.labelled.all())
    n_unlabelled = int((~data.train.labelled).sum())
    assert n_unlabelled == data.info["split_counts"]["train"]["unlabelled"] > 0
    dropped = load_mimic(
        root=str(demo_root), cache_dir=str(demo_cache), task="mortality", unlabelled="drop"
    )
    assert (
        bool(dropped.train.labelled.all()) and len(dropped.train) == len(data.train) - n_unlabelled
    )
    # Code modalities are vocabulary ids for a learned embedding; id 1 marks codes unseen in train.
    spec = data.specs["diagnoses"]
    assert spec.vocab_size > 2 and data.train.x["diagnoses"].dtype.is_floating_point is False
    assert int(data.train.x["diagnoses"].max()) < spec.vocab_size
    assert (data.val.x["diagnoses"] == 1).any() or (data.test.x["diagnoses"] == 1).any()


@pytest.mark.parametrize("backbone", ["late"])
def test_readmission_split_by_admission_with_a_modality_subset(
    compose, demo_root, demo_cache, tmp_path, backbone
):
    cfg = compose(
        *mimic_overrides(
            demo_root, demo_cache, f"backbone={backbone}", "dataset.task=readmission",
            "dataset.split_by=admission", "dataset.modalities=[labs,diagnoses,medications]",
        ),
        tiny=False, run_dir=tmp_path,
    )  # fmt: skip
    summary = train(cfg)
    assert summary["modalities"] == ["labs", "diagnoses", "medications"]
    assert (
        summary["data"]["split"]["by"] == "admission" and summary["data"]["task"] == "readmission"
    )
    assert set(summary["test_masked"]) == {"labs", "diagnoses", "medications"}
    assert summary["data"]["split_counts"]["test"]["admissions"] > 0


@pytest.mark.parametrize("remedy", ["none", "ebr"])
def test_muse_backbone_runs_on_the_demo(compose, demo_root, demo_cache, tmp_path, remedy):
    """The issue's `mmc train dataset=mimic backbone=muse remedy=none|ebr`, one short epoch."""
    cfg = compose(
        *mimic_overrides(demo_root, demo_cache, "backbone=muse", f"remedy={remedy}"),
        tiny=False, run_dir=tmp_path,
    )  # fmt: skip
    summary = train(cfg)
    assert summary["status"] == "completed" and "muse" in cfg.backbone._target_.lower()
    assert summary["data"]["unlabelled"] == "train"  # MUSE's unsupervised term sees them
