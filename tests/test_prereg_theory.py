"""The pre-registered selection and decision rules (scripts/prereg_theory.py) on stub runs:
no training, only the arithmetic the verdicts come from."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prereg_theory.py"
spec = importlib.util.spec_from_file_location("prereg_theory", SCRIPT)
pt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pt)


def test_choose_keeps_the_control_unless_beaten_by_more_than_the_tie():
    assert pt.choose({"control": 2.0, "head4": 2.05, "beta1": 1.0}) == "control"
    assert pt.choose({"control": 2.0, "head4": 2.5, "beta1": 1.0}) == "head4"
    assert pt.choose({"control": 2.0, "head4": 2.0}) == "control"


def test_gap_stats_is_mean_gap_over_its_sd():
    rs = [{"test": 0.8, "ensemble": {"ensemble": 0.8 + g}} for g in (0.01, 0.02, 0.03)]
    g = pt.gap_stats(rs)
    assert abs(g["sd_multiple"] - 2.0) < 1e-9 and g["wins"] == 3


def _write(out: Path, methods: dict, seeds: int, sets: list[str]) -> None:
    out.mkdir(parents=True)
    runs = {
        pt.cc.key_of(m, 0.0, 2, None, s): f(s) for m, f in methods.items() for s in range(seeds)
    }
    (out / "results.json").write_text(json.dumps({"runs": runs, "set": sets}))


def _none(s):
    # the weak reference: at chance (0.11) on seed 0, learned (0.4) on the others
    ens = {"ensemble": 0.85 + 0.0011 * s, "unimodal/m1": 0.11 if s == 0 else 0.4}
    return {"test": 0.80 + 0.001 * s, "ensemble": ens,
            "unimodal_training": {"m1": {"best_epoch": 39 if s else 0, "epochs_run": 40}},
            "poly_fraction": 0.8, "poly_paper": 0.05 + 0.01 * s, "poly_total": 0.3 + 0.01 * s,
            "weak_share": 0.3, "strong_masked": 0.2, "weak_pred_effect": 0.2,
            "weak_noisy_effect": 0.1}  # fmt: skip


def _kd(s):
    probe = {k: {"accuracy": a} for k, a in
             (("before_distillation", 0.1), ("after_distillation", 0.5), ("after_fusion", 0.6))}  # fmt: skip
    return {**_none(s), "test": 0.83 + 0.002 * s, "poly_fraction": 0.9, "poly_paper": 0.0,
            "poly_total": 0.1, "kd_probe": probe}  # fmt: skip


def test_weak_reference_quality_check():
    w = pt.weak_refs([_none(s) for s in range(10)])
    assert (w["at_chance"], w["last"], w["recorded"]) == (1, 9, 10)
    # round 1's records have no unimodal_training: the count is then "not recorded"
    assert pt.weak_refs([{"ensemble": {"unimodal/m1": 0.1}}])["recorded"] == 0


def test_round_two_is_round_one_with_the_fixed_yardstick_on_fresh_structures():
    (c1, s1, o1), (c2, s2, o2) = pt.ROUNDS[1], pt.ROUNDS[2]
    assert c2 == [*c1, "diagnostics.unimodal_min_epochs=40"] and o1 != o2
    assert not set(s2) & {*s1, *pt.EXPLORE_STRUCTURES}


@pytest.mark.parametrize("rnd", [1, 2])
def test_select_and_verdicts_on_stub_runs(tmp_path, monkeypatch, capsys, rnd):
    common, structures, _ = pt.ROUNDS[rnd]
    monkeypatch.setitem(pt.ROUNDS, rnd, (common, structures, tmp_path))
    for name in pt.GRID:
        for s in pt.EXPLORE_STRUCTURES:
            _write(tmp_path / "explore" / name / f"ds{s}", {"none": _none}, pt.EXPLORE_SEEDS, [])
    assert pt.cmd_select(rnd) == "control"  # every configuration the same: the control
    for s in structures:
        _write(tmp_path / "confirm" / f"ds{s}", {"none": _none, "kd": _kd}, pt.CONFIRM_SEEDS,
               [*pt.GRID["head4"], *common])  # fmt: skip
    pt.cmd_verdicts("head4", rnd)
    out = capsys.readouterr().out
    assert f"| {structures[0]} | 0.371 ± 0.092 (min 0.110) | 1/10 | 9/10 |" in out
    # gap 0.05 + 0.0001 s: sd tiny, far above 3 sd; kd beats none; cross-modal higher under kd
    assert "H (gap/sd > 3 and p < 0.05 on every structure): holds" in out
    assert "KD beats none (p < 0.05 on every structure): holds" in out
    assert "cross-modal fraction none > kd (p < 0.05 on every structure): does not hold" in out
    assert "Lemma-3 claim (either version after Holm): holds" in out


def test_a_step_without_its_results_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    common, structures, _ = pt.ROUNDS[1]
    monkeypatch.setitem(pt.ROUNDS, 1, (common, structures, tmp_path))
    monkeypatch.setattr("sys.argv", ["prereg_theory.py", "verdicts", "--config", "head4"])
    assert pt.main() == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prereg_theory: ") and "results.json is missing" in err
    assert "\n" not in err


def test_verdicts_refuse_runs_made_with_another_configuration(tmp_path, monkeypatch, capsys):
    common, structures, _ = pt.ROUNDS[1]
    monkeypatch.setitem(pt.ROUNDS, 1, (common, structures, tmp_path))
    for s in structures:
        _write(tmp_path / "confirm" / f"ds{s}", {"none": _none, "kd": _kd}, pt.CONFIRM_SEEDS,
               [*pt.GRID["noise16"], *common])  # fmt: skip
    monkeypatch.setattr("sys.argv", ["prereg_theory.py", "verdicts", "--config", "head4"])
    assert pt.main() == 2
    assert "not configuration head4" in capsys.readouterr().err
