"""W&B: one run per job, `epoch` as the step metric, readable offline with `wandb leet`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmc.train import train


def _wandb_cli() -> str:
    exe = Path(sys.executable).with_name("wandb")
    return str(exe) if exe.exists() else shutil.which("wandb")


def _inspect(run: Path, *flags: str) -> str:
    out = subprocess.run([_wandb_cli(), "leet", "inspect", *flags, "--json", str(run)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    if out.returncode != 0:
        pytest.fail(f"wandb leet inspect failed: {out.stderr[-500:]}")
    return out.stdout


def test_offline_run_reads_back_as_a_collapse_dashboard(compose, tmp_path, monkeypatch):
    """Read back from the .wandb file: the collapse curve (val_masked/* per modality next to
    val_probe/*), the overlaid line charts, test/* final values that leave the history keys
    alone, the choices in words, job_type, the console and the run-record artifact."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose("logger=wandb", "logger.mode=offline", "logger.log_checkpoints=true",
                  "remedy=kd", "train.epochs=2", run_dir=tmp_path)  # fmt: skip
    summary = train(cfg)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    records = [json.loads(x) for x in _inspect(runs[0]).splitlines() if x.startswith("{")]
    history = [r["history"]["item"] for r in records if r.get("type") == "history"]
    epochs = [h for h in history if "loss/total" in h]
    assert [h["epoch"] for h in epochs] == [0, 1]
    for h in epochs:
        assert "rank/fused/effective" in h and "val/accuracy" in h and "val_probe/accuracy" in h
        for m in ("m0", "m1"):
            assert 0.0 <= h[f"val_masked/{m}/accuracy"] <= 1.0
            # contribution = all modalities - this one masked, on the same probe
            assert h[f"contribution/{m}"] == pytest.approx(
                h["val_probe/accuracy"] - h[f"val_masked/{m}/accuracy"], abs=1e-6
            )
    logged = {k.split("_table.")[0] for h in history for k in h if k.startswith("charts/")}
    assert {"charts/contribution", "charts/effective_rank", "charts/numerical_rank",
            "charts/val_masked/accuracy"} <= logged  # fmt: skip
    chart_types = {h[k] for h in history for k in h if k.endswith("_table._type")}
    assert chart_types == {"table-file"}  # line_series store their points as tables
    artifacts = [r["artifact"] for r in records if r.get("type") == "artifact"]
    names = {a["name"]: a for a in artifacts}
    record = names[f"record-{runs[0].name.rsplit('-', 1)[1]}"]
    assert record["type"] == "run-record"
    assert {c["path"] for c in record["manifest"]["contents"]} >= {
        "summary.json", "metrics.jsonl", "config.yaml"}  # fmt: skip
    assert any(a["type"] == "model" for a in artifacts)  # logger.log_checkpoints=true

    info = json.loads(_inspect(runs[0], "--summary"))
    assert info["state"] == "finished" and info["exit_code"] == 0
    final = info["summary"]
    # Final (test) values under test/...; the history keys keep their last val-probe point.
    assert final["test/contribution/m0"] == pytest.approx(summary["contribution"]["m0"])
    assert final["contribution/m0"] == pytest.approx(epochs[-1]["contribution/m0"])
    assert final["test/masked/m1/accuracy"] == pytest.approx(
        summary["test_masked"]["m1"]["accuracy"]
    )
    assert "test/rank/fused/effective" in final and "collapse/gap" in final
    assert {final["val_masked/strongest"], final["val_masked/weakest"]} == {"m0", "m1"}
    config = info["config"]
    assert (config["dataset"], config["backbone"], config["remedy"]) == (
        "synthetic",
        "concat",
        "kd",
    )
    assert config["remedy_config"]["_target_"].endswith("KnowledgeDistillation")
    run_record = next(r["run"] for r in records if r.get("type") == "run")
    assert run_record["job_type"] == "kd"
    console = "\n".join(line["line"] for line in info["console"])
    assert "mmc summary: synthetic / concat / kd" in console


def test_failed_job_still_finishes_its_run(compose, tmp_path, monkeypatch):
    import mmc.runners.classification as train_module

    monkeypatch.delenv("WANDB_MODE", raising=False)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(train_module, "train_epoch", boom)
    with pytest.raises(RuntimeError):
        train(compose("logger=wandb", "logger.mode=offline", run_dir=tmp_path))
    run = next((tmp_path / "wandb").glob("offline-run-*"))
    out = subprocess.run([_wandb_cli(), "leet", "inspect", "--summary", "--json", str(run)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert json.loads(out.stdout)["exit_code"] == 1
