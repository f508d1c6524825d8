"""The claims harness's data options: --data-seed, --fix-samples, --samples
(scripts/collapse_claims.py)."""

import importlib.util
import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "collapse_claims.py"
spec = importlib.util.spec_from_file_location("collapse_claims", SCRIPT)
cc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cc)


def test_data_overrides():
    assert cc.data_overrides(None, False, None) == []
    assert cc.data_overrides(3, False, None) == ["dataset.source.structure_seed=3"]
    assert cc.data_overrides(3, True, 8000) == [
        "dataset.source.structure_seed=3",
        "dataset.source.sample_seed=3",
        "dataset.source.n_train=8000",
        "dataset.source.n_test=8000",
    ]


def _main(monkeypatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["collapse_claims.py", *argv])
    return cc.main()


def test_resuming_with_other_data_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    held = {"runs": {"none/r0/M2/s0": {"test": 0.8}}, "data_seed": 0, "fix_samples": False}
    (tmp_path / "results.json").write_text(json.dumps(held))
    assert _main(monkeypatch, "--report-only", "--out", str(tmp_path), "--data-seed", "1") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data_seed" in err


def test_fix_samples_needs_a_data_seed(tmp_path, monkeypatch, capsys):
    assert _main(monkeypatch, "--report-only", "--out", str(tmp_path), "--fix-samples") == 2
    assert "--data-seed" in capsys.readouterr().err


def test_a_bad_option_is_a_one_line_error_and_keeps_earlier_runs(tmp_path, monkeypatch, capsys):
    held = {"runs": {"none/r0/M2/s0": {"test": 0.8}}, "data_seed": None, "fix_samples": False,
            "samples": 0}  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps(held))
    code = _main(monkeypatch, "--blocks", "A", "--seeds", "2", "--methods", "none",
                 "--samples", "0", "--out", str(tmp_path))  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == "collapse_claims: none/r0/M2/s1: dataset.source.n_train/n_val/n_test must be > 0"
    assert json.loads((tmp_path / "results.json").read_text())["runs"] == held["runs"]


def test_parse_sets_passes_overrides_and_refuses_bad_or_harness_owned_ones():
    sets = ["model.head_hidden=4", "dataset.source.weak_noise_std=16", "+train.x=[1,2]"]
    assert cc.parse_sets(sets) == sets
    for bad, why in (("model.head_hidden", "KEY=VALUE"), ("=4", "KEY=VALUE"),
                     ("seed=3", "harness"), ("remedy.lr=1e-3", "harness"),
                     ("data.missing_rate=0.5", "harness"),
                     ("dataset.source.structure_seed=1", "harness")):  # fmt: skip
        try:
            cc.parse_sets([bad])
        except ValueError as e:
            assert why in str(e) and "\n" not in str(e)
        else:
            raise AssertionError(bad)


def test_set_values_reach_every_run_last_and_are_recorded(tmp_path, monkeypatch):
    seen = []

    def fake_run(setting, overrides, seed):
        seen.append(overrides)
        raise cc.MmcError("stop")  # no training: the overrides are what is tested

    monkeypatch.setattr(cc, "run", fake_run)
    code = _main(monkeypatch, "--blocks", "A", "--seeds", "1", "--methods", "none",
                 "--set", "model.head_hidden=4", "--set", "diagnostics.extra=[ensemble]",
                 "--out", str(tmp_path))  # fmt: skip
    assert code == 2 and len(seen) == 1
    assert seen[0][-2:] == ["model.head_hidden=4", "diagnostics.extra=[ensemble]"]


def test_a_set_wins_over_block_e_own_beta(tmp_path, monkeypatch):
    seen = []

    def fake_run(setting, overrides, seed):
        seen.append(overrides)
        raise cc.MmcError("stop")

    monkeypatch.setattr(cc, "run", fake_run)
    code = _main(monkeypatch, "--blocks", "E", "--betas", "0.5", "--seeds", "1",
                 "--set", "dataset.source.beta=2.0", "--out", str(tmp_path))  # fmt: skip
    assert code == 2 and len(seen) == 1
    assert seen[0][-2:] == ["dataset.source.beta=0.5", "dataset.source.beta=2.0"]


def test_resuming_with_other_set_values_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    held = {"runs": {"none/r0/M2/s0": {"test": 0.8}}, "data_seed": 100, "fix_samples": False,
            "samples": None, "set": ["model.head_hidden=4"]}  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps(held))
    for argv in ((), ("--set", "model.head_hidden=8"),
                 ("--set", "model.head_hidden=4", "--set", "train.weight_decay=0.01")):  # fmt: skip
        assert _main(monkeypatch, "--report-only", "--out", str(tmp_path), "--data-seed", "100",
                     *argv) == 2  # fmt: skip
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "'set'" in err
    # the same values resume; an old out dir without "set" means no --set
    monkeypatch.setattr(cc, "render", lambda res: "")  # the table of a stub run is not tested
    assert _main(monkeypatch, "--report-only", "--out", str(tmp_path), "--data-seed", "100",
                 "--set", "model.head_hidden=4") == 0  # fmt: skip
    old = {"runs": {"none/r0/M2/s0": {"test": 0.8}}, "data_seed": 0, "fix_samples": False}
    (tmp_path / "results.json").write_text(json.dumps(old))
    assert _main(monkeypatch, "--report-only", "--out", str(tmp_path), "--data-seed", "0") == 0


def test_a_malformed_or_unknown_set_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    assert _main(monkeypatch, "--report-only", "--out", str(tmp_path), "--set", "seed=1") == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    code = _main(monkeypatch, "--blocks", "A", "--seeds", "1", "--methods", "none",
                 "--set", "model.no_such_key=1", "--out", str(tmp_path / "u"))  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no_such_key" in err


def test_digest_keeps_how_the_references_trained():
    s = {"extra": {}, "data": {"strongest": "m0", "weakest": "m1"}, "test": {"accuracy": 0.8},
         "test_masked": {m: {"accuracy": 0.5} for m in ("m0", "m1")},
         "contribution": {"m0": 0.5, "m1": 0.1}, "_seconds": 1.0,
         "unimodal_training": {"m1": {"best_epoch": 39, "epochs_run": 40}}}  # fmt: skip
    assert cc.digest(s)["unimodal_training"]["m1"] == {"best_epoch": 39, "epochs_run": 40}
