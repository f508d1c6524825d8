"""End to end: `mmc prepare` -> `train(cfg)` on both layouts, under audio missingness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmc.errors import MmcError
from mmc.prepare import main as prepare_main
from mmc.train import train

CONF = Path(__file__).resolve().parents[3] / "conf"
# Tiny and fast: one epoch, no unimodal baselines unless a test asks for them.
QUICK = [
    "logger=none",
    "progress=false",
    "train.epochs=1",
    "train.batch_size=40",
    "diagnostics.unimodal=false",
    "diagnostics.probe_size=32",
]
AUDIO_95 = ["data.missing_modalities=[audio]", "data.missing_rate=0.95", "data.test_missing_rate=0"]


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _is_retrieval_only(remedy: str) -> bool:
    return "mmc.retrieval." in (CONF / "remedy" / f"{remedy}.yaml").read_text()


def test_prepare_command_builds_the_layout(raw_sources, multibench_dir, tmp_path, capsys):
    mnist, fsdd = raw_sources
    out = tmp_path / "built"
    argv = [f"dataset.root={out}", f"dataset.mnist_dir={mnist}", f"dataset.fsdd_dir={fsdd}"]
    assert prepare_main(["dataset=avmnist", *argv]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["sizes"] == {"train": 200, "test": 200}
    # Deterministic given the seed: the same bytes as the fixture's direct builder call.
    for rel in ("audio/train_data.npy", "image/test_data.npy", "pairing/train.csv"):
        assert (out / rel).read_bytes() == (multibench_dir / rel).read_bytes()
    with pytest.raises(MmcError, match="overwrite=true"):
        prepare_main(["dataset=avmnist", *argv])


def test_train_reports_the_audio_missing_rate_in_its_summary(compose, multibench_dir, tmp_path):
    """`mmc train -m data.missing_rate=...` on the MultiBench layout: each run's summary
    carries its rate, the observed audio share and the test accuracy."""
    cfg = compose(
        "dataset=avmnist",
        f"dataset.root={multibench_dir}",
        "dataset.source.val_size=40",
        *AUDIO_95,
        *QUICK,
        tiny=False,
        run_dir=tmp_path,
    )
    summary = train(cfg)
    assert summary["missing_rate"] == 0.95 and summary["test_missing_rate"] == 0
    observed = summary["data"]["observed_fraction"]
    assert observed["image"] == 1.0 and observed["audio"] < 0.15
    assert summary["data"]["missingness"]["test"] == {"image+audio": 200}
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["missing_rate"] == 0.95 and 0.0 <= saved["test"]["accuracy"] <= 1.0


@pytest.mark.parametrize("backbone", _options("backbone"))
def test_every_backbone_trains_with_95_percent_of_audio_missing(
    compose, small_dir, tmp_path, backbone
):
    cfg = compose(
        "dataset=avmnist_small",
        f"dataset.root={small_dir}",
        "dataset.source.audio_missing=0.95",
        "dataset.source.val_size=20",
        f"backbone={backbone}",
        *QUICK,
        tiny=False,
        run_dir=tmp_path,
    )
    summary = train(cfg)
    assert summary["status"] == "completed"
    assert set(summary["test_masked"]) == {"image", "audio"}
    assert summary["data"]["observed_fraction"]["audio"] == pytest.approx(5 / 100)


@pytest.mark.parametrize("remedy", _options("remedy"))
def test_every_remedy_trains_on_the_small_setting(compose, small_dir, tmp_path, remedy):
    cfg = compose(
        "dataset=avmnist_small",
        f"dataset.root={small_dir}",
        "dataset.source.audio_missing=0.95",
        "dataset.source.val_size=20",
        f"remedy={remedy}",
        *QUICK,
        # Short remedy schedules where a remedy has them (KD's pretraining stages).
        *(["remedy.epochs=1", "diagnostics.unimodal_epochs=1"] if remedy == "kd" else []),
        tiny=False,
        run_dir=tmp_path,
    )
    if _is_retrieval_only(remedy):
        with pytest.raises(MmcError):
            train(cfg)
        return
    summary = train(cfg)
    assert summary["status"] == "completed"
    assert summary["data"]["train_audio_missing_count"] == round(0.95 * 100)


def test_small_setting_refuses_double_masking_from_the_command_line(compose, small_dir):
    cfg = compose(
        "dataset=avmnist_small",
        f"dataset.root={small_dir}",
        "data.missing_rate=0.5",
        *QUICK,
        tiny=False,
    )
    with pytest.raises(MmcError, match="second time"):
        train(cfg)
