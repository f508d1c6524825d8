"""scripts/repblend_pixel_seeds.py: command lines, aggregation, speed ratios, resuming, and
one tiny real `mmc train` run through it."""

from __future__ import annotations

import importlib.util
import json
import statistics
from argparse import Namespace
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "repblend_pixel_seeds.py"
spec = importlib.util.spec_from_file_location("repblend_pixel_seeds", SCRIPT)
ps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ps)


def _args(**kw) -> Namespace:
    base = dict(
        seeds=1, pairs=50, iterations=100, experts=5, expert_epochs=3, image_size=32, width=16,
        epochs=100, eval_every=5, lr_img=1.0, lr_lr=0.0, lr_sim=0.1, threads=1,
    )  # fmt: skip
    return Namespace(**{**base, **kw})


def _summary(r_mean: float, distill_s: float, floor=None) -> dict:
    test = {k: r_mean for k in ps.RECALLS}
    collapse = {f"fixed/train_set/{k}": 0.5 for k in ps.FIXED}
    collapse.update({f"fixed/real/{k}": 0.4 for k in ps.FIXED})
    return {
        "status": "completed",
        "test": test,
        "timing": {"distill_s": distill_s, "total_s": distill_s + 10},
        "collapse": collapse,
        "distill": {"step_sizes": {"image": 0.1, "text": 0.1}, "step_size_floor": floor},
    }


def _fake_records() -> list[dict]:
    # RepBlend 10 s per seed, LoRS 20/30/40 s: per-seed ratios 2, 3, 4; of the means 30/10 = 3.
    recs = []
    for seed in range(3):
        recs.append(ps.record("RepBlend", seed, _summary(5.0 + seed, 10.0)))
        recs.append(ps.record("LoRS", seed, _summary(10.0 + seed, 20.0 + 10 * seed)))
        recs.append(ps.record("random", seed, _summary(12.0 + 2 * seed, 0.0)))
    recs.append(ps.record("full", 0, _summary(70.0, 0.0)))
    recs.append(ps.record("blend_only", 0, None, "exit 1: diverged"))
    return recs


def test_overrides_per_method(tmp_path):
    args, root = _args(), tmp_path / "flickr"
    init = ps.overrides("init", 0, args, tmp_path, root)
    assert "remedy.iterations=0" in init and "remedy=repblend" in init
    assert "remedy.space=pixel" in init and "data.num_pairs=50" in init
    init_lors = ps.overrides("init_lors", 0, args, tmp_path, root)
    assert "remedy.iterations=0" in init_lors and "remedy=repblend_lors" in init_lors
    lors = ps.overrides("LoRS", 1, args, tmp_path, root)
    assert "remedy=repblend_lors" in lors and "remedy.iterations=100" in lors
    assert {"remedy.lr_lr=0.0", "remedy.lr_sim=0.1", "seed=1"} <= set(lors)
    assert "remedy.symmetric=false" in ps.overrides("blend_only", 0, args, tmp_path, root)
    full = ps.overrides("full", 0, args, tmp_path, root)
    # remedy=none has no remedy.* keys and full data no size.
    assert not [o for o in full if o.startswith(("remedy.", "data.num_pairs"))]
    assert "data.coreset=random" in ps.overrides("random", 0, args, tmp_path, root)


def test_aggregate_speed_and_table():
    recs = _fake_records()
    agg = ps.aggregate(recs)
    assert agg["RepBlend"]["n"] == 3 and "blend_only" not in agg  # failed runs are left out
    assert agg["RepBlend"]["mean"]["r_mean"] == pytest.approx(6.0)
    assert agg["LoRS"]["sd"]["r_mean"] == pytest.approx(statistics.stdev([10, 11, 12]))
    assert agg["LoRS"]["mean"]["fixed/modality_gap"] == pytest.approx(0.5)
    sr = ps.speed_ratios(recs)
    assert sr["per_seed"] == {0: 2.0, 1: 3.0, 2: 4.0}
    assert sr["of_means"] == pytest.approx(3.0)
    assert ps.speed_ratios(recs, "blend_only")["per_seed"] == {}
    text = ps.table(recs, {"pairs": 50})
    assert "| RepBlend | 3 | 6.0±1.0" in text and "| full | 1 | 70.0±0.0" in text
    assert "LoRS / RepBlend: 2.00 / 3.00 / 4.00" in text and "3.00×" in text
    assert "Failed runs: blend_only/seed0" in text
    assert "RepBlend beats LoRS: mean recall RepBlend 6.0 > LoRS 11.0: **does not hold**" in text
    assert "distill time LoRS 30 s > RepBlend 10 s: **holds**" in text


def test_table_lists_step_sizes_at_the_floor():
    recs = [ps.record("LoRS", 0, _summary(1.0, 2.0, floor=["image"]))]
    assert "floor: LoRS/seed0: image" in ps.table(recs)


def test_completed_run_is_read_not_rerun(tmp_path, monkeypatch):
    path = ps.run_dir(tmp_path, "RepBlend", 0)
    path.mkdir(parents=True)
    (path / "summary.json").write_text(json.dumps(_summary(7.0, 3.0)))

    def boom(*a, **k):
        raise AssertionError("a completed run was started again")

    monkeypatch.setattr(ps.subprocess, "call", boom)
    rec = ps.run_one("RepBlend", 0, _args(), tmp_path, tmp_path / "flickr")
    assert rec["status"] == "completed" and rec["test"]["r_mean"] == 7.0


@pytest.mark.slow
def test_tiny_real_run(tmp_path):
    """One pixel-space RepBlend run through `mmc train`, end to end (a few seconds)."""
    out, root = tmp_path / "out", tmp_path / "out" / "flickr"
    ps.make_folder(root, 24, 16, 6)
    args = _args(pairs=4, iterations=2, experts=1, expert_epochs=2, image_size=16, width=4,
                 epochs=2, eval_every=1)  # fmt: skip
    rec = ps.run_one("RepBlend", 0, args, out, root)
    assert rec["status"] == "completed", (ps.run_dir(out, "RepBlend", 0) / "train.log").read_text()
    assert rec["distill_s"] > 0 and set(rec["fixed"]) == set(ps.FIXED)


def _main(monkeypatch, *argv: str) -> int:
    monkeypatch.setattr(ps.sys, "argv", ["repblend_pixel_seeds.py", *argv])
    return ps.main()


def test_bad_concepts_is_a_one_line_error_and_writes_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert _main(monkeypatch, "--out", str(out), "--concepts", "40") == 2
    assert capsys.readouterr().err.strip() == "repblend_pixel_seeds: --concepts=40: use 1 to 36"
    assert not out.exists()


def test_resuming_with_other_settings_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    saved = {"settings": {**vars(_args()), "concepts": 36, "train_images": 600, "eval_images": 100},
             "records": []}  # fmt: skip
    (tmp_path / "pixel_seeds.json").write_text(json.dumps(saved))
    before = (tmp_path / "pixel_seeds.json").read_text()
    # seeds and threads may differ (more seeds extend a run); the data may not
    assert _main(monkeypatch, "--out", str(tmp_path), "--report-only", "--seeds", "5") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--concepts 36" in err and "--seeds" not in err and "another --out" in err
    assert (tmp_path / "pixel_seeds.json").read_text() == before
