"""`seeds=[...]`: several seeds trained as one batched model give each seed the metrics and the
run directory of its own separate run."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch

from mmc.data.build import build_dataset
from mmc.engine.loop import train_epoch
from mmc.engine.model import build_model
from mmc.engine.optim import make_optimizer
from mmc.engine.seed_group import _Request, _why_not_batched
from mmc.report.gather import load_runs
from mmc.train import train

SEEDS = (0, 1, 2)


def _records(run_dir):
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in records]


def _assert_same(batched, separate, rel: float):
    """Same keys, same epochs; floats equal to `rel` (0 = bit-identical)."""
    assert len(batched) == len(separate)
    for a, b in zip(batched, separate):
        assert a.keys() == b.keys()
        for k in b:
            if isinstance(b[k], float) and rel:
                assert math.isclose(a[k], b[k], rel_tol=rel, abs_tol=rel), (k, a[k], b[k])
            else:
                assert a[k] == b[k], (k, a[k], b[k])


def _both(compose, tmp_path, *overrides):
    seeds = "seeds=[" + ",".join(map(str, SEEDS)) + "]"
    batched = train(compose(*overrides, seeds, run_dir=tmp_path / "batched"))["seeds"]
    separate = {
        s: train(compose(*overrides, f"seed={s}", run_dir=tmp_path / f"sep{s}")) for s in SEEDS
    }
    return batched, separate


# Batched matmuls round differently from unbatched ones (~1e-7 relative per step); after
# training, the per-epoch losses agree to ~1e-6 and the effective ranks (eigenvalues of a
# float32 Gram matrix, the most sensitive number logged) to ~1e-4 relative. Accuracy and the
# other thresholded metrics come out identical here.
BATCHED_REL = 1e-3


def test_batched_seeds_match_separate_runs(compose, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="mmc"):
        batched, separate = _both(compose, tmp_path)
    assert "seed by seed" not in caplog.text  # every epoch ran batched (grouped weights)
    for s in SEEDS:
        run = tmp_path / "batched" / f"seed{s}"
        _assert_same(_records(run), _records(tmp_path / f"sep{s}"), BATCHED_REL)
        assert batched[s]["seed"] == s and batched[s]["run_dir"] == str(run)
        assert batched[s]["test"] == separate[s]["test"]
        assert batched[s]["best_epoch"] == separate[s]["best_epoch"]
        for m, metrics in separate[s]["unimodal"].items():  # trained batched as well
            assert batched[s]["unimodal"][m] == pytest.approx(metrics, rel=BATCHED_REL)
        for name in ("config.yaml", "summary.json", "checkpoints/best.pt", "checkpoints/last.pt"):
            assert (run / name).exists(), name
    # Distinct seeds really are distinct runs.
    assert _records(tmp_path / "batched" / "seed0") != _records(tmp_path / "batched" / "seed1")
    # `mmc report` sees one completed run per seed, as for separate runs.
    runs, problems = load_runs([tmp_path / "batched"])
    assert sorted(runs["seed"]) == list(SEEDS) and problems.empty


def test_seed_by_seed_fallback_is_bit_identical(compose, tmp_path, caplog):
    # Dropout draws random numbers in every step: those epochs run seed by seed, each seed
    # with its own RNG stream, so everything equals the separate runs exactly.
    with caplog.at_level(logging.INFO, logger="mmc"):
        _both(compose, tmp_path, "model.dropout=0.3")
    assert "seed by seed: dropout" in caplog.text
    for s in SEEDS:
        _assert_same(_records(tmp_path / "batched" / f"seed{s}"), _records(tmp_path / f"sep{s}"), 0)


def test_vmapped_backbone_matches_separate_runs(compose, tmp_path, caplog):
    # Late fusion has no grouped forward: its steps run through torch.func.vmap.
    with caplog.at_level(logging.INFO, logger="mmc"):
        batched, separate = _both(compose, tmp_path, "backbone=late", "diagnostics.unimodal=false")
    assert "seed by seed" not in caplog.text  # the vmapped path ran, no fallback
    for s in SEEDS:
        _assert_same(
            _records(tmp_path / "batched" / f"seed{s}"), _records(tmp_path / f"sep{s}"), BATCHED_REL
        )
        assert batched[s]["test"] == separate[s]["test"]


def test_duplicate_seeds_are_a_config_error(compose, tmp_path):
    from mmc.errors import ConfigError

    with pytest.raises(ConfigError, match="each seed may appear once"):
        train(compose("seeds=[1,1]", run_dir=tmp_path))


def test_each_seed_is_its_own_finished_wandb_run(compose, tmp_path, monkeypatch):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(compose("logger=wandb", "logger.mode=offline", "train.epochs=2",
                  "diagnostics.unimodal=false", "seeds=[0,1]", run_dir=tmp_path))  # fmt: skip
    exe = Path(sys.executable).with_name("wandb")
    cli = str(exe) if exe.exists() else shutil.which("wandb")
    for s in (0, 1):
        (run,) = (tmp_path / f"seed{s}" / "wandb").glob("offline-run-*")
        out = subprocess.run([cli, "leet", "inspect", "--json", str(run)],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        records = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
        config = next(r["run"]["config"]["update"] for r in records if r.get("type") == "run")
        assert config["seed"] == s
        history = [r["history"]["item"] for r in records if r.get("type") == "history"]
        assert [h["epoch"] for h in history if "rank/fused/effective" in h] == [0, 1]
        summary = subprocess.run([cli, "leet", "inspect", "--summary", "--json", str(run)],
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        info = json.loads(summary.stdout)
        assert info["state"] == "finished" and info["exit_code"] == 0


def test_optimisers_at_different_steps_are_not_stacked(compose, tmp_path):
    # Early stopping can end one seed's unimodal reference while another's is mid-run: the
    # next round pairs a fresh optimiser with a stepped one. Stacking them raised KeyError
    # 'exp_avg' (`mmc train seeds=[0,1,2,3,4] train.epochs=20`), and one shared Adam step
    # count would give the other seeds the wrong bias correction: run that round seed by seed.
    cfg = compose(run_dir=tmp_path)
    data = build_dataset(cfg)
    reqs = []
    for stepped in (True, False):
        torch.manual_seed(0)
        model = build_model(cfg, data)
        opt = make_optimizer(model.parameters(), cfg)
        if stepped:
            model(data.train.batch(slice(0, 8))).logits.sum().backward()
            opt.step()
        args = (model, data.train, opt, cfg, data.task, 0, None, None)
        reqs.append(_Request(train_epoch, args, {}, {}))
    assert _why_not_batched(reqs) == "the seeds' optimisers are at different steps"
    assert _why_not_batched([reqs[0], reqs[0]]) is None
