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
