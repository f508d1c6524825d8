"""scripts/repblend_raw_collapse.py: the collapse metrics in the raw feature space."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from mmc.retrieval.collapse import concentration_ratio, intra_modal_cosine
from mmc.train import train

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "repblend_raw_collapse.py"
spec = importlib.util.spec_from_file_location("repblend_raw_collapse", SCRIPT)
raw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(raw)

SMALL = [
    "dataset=synthetic_pairs", "logger=none", "progress=false", "train.epochs=2",
    "dataset.source.n_train=150", "dataset.source.n_val=40", "dataset.source.n_test=40",
    "dataset.source.img_dim=24", "dataset.source.txt_dim=16", "dataset.model.embed_dim=16",
]  # fmt: skip


def test_raw_metrics_of_the_real_pairs_and_of_a_shifted_set():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 8, generator=g) + 0.5
    same = raw.raw_metrics(real, real)
    assert same["shift_sd"] == 0.0
    assert same["concentration"] == pytest.approx(
        concentration_ratio(real, intra_modal_cosine(real))
    )
    tight = real.mean(0) + 0.1 * torch.randn(50, 8, generator=g)  # around the common direction
    m = raw.raw_metrics(tight, real)
    assert m["intra_cos"] > 0.9 and m["concentration"] > 0.95 and m["shift_sd"] > 1


def test_reads_a_real_distillation_run_and_tabulates_it(compose, tmp_path, capsys):
    run = tmp_path / "sweeps" / "RepBlend@12" / "0"
    train(compose(*SMALL, "remedy=repblend", "data.num_pairs=12", "remedy.iterations=2",
                  "remedy.num_experts=1", "remedy.expert_train_epochs=2", "remedy.batch_syn=6",
                  "remedy.syn_steps=2", "remedy.collapse_every=0",
                  f"remedy.expert_dir={tmp_path / 'experts'}",
                  f"dataset.collapse_reference.dir={tmp_path / 'ref'}",
                  "dataset.collapse_reference.epochs=1", tiny=False, run_dir=run))  # fmt: skip
    out = tmp_path / "rows.json"
    assert raw.main([str(tmp_path / "sweeps"), "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert (row["method"], row["pairs"], row["seed"]) == ("RepBlend", 12, 0)
    d = torch.load(run / "distilled.pt", weights_only=True)
    assert row["intra_cos/image"] == pytest.approx(intra_modal_cosine(d["img"]))
    assert row["real/shift_sd/text"] == 0.0
    table = capsys.readouterr().out
    assert "| real | 12 | 1 |" in table and "| RepBlend | 12 | 1 |" in table
    (run / "distilled.pt").write_bytes(b"not a torch file")  # a broken run: one line, exit 2
    assert raw.main([str(tmp_path / "sweeps")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(run) in err[0] and err[0].startswith("repblend_raw_collapse: ")


def test_no_runs_or_a_missing_folder_is_one_line_exit_2(tmp_path, capsys):
    assert raw.main([str(tmp_path / "nope")]) == 2
    assert raw.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("repblend_raw_collapse: ") for e in err)
