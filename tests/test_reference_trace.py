"""scripts/reference_trace.py: bad options are one line, exit 2 (no training happens)."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "reference_trace.py"
spec = importlib.util.spec_from_file_location("reference_trace", SCRIPT)
rt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rt)


@pytest.mark.parametrize(
    "argv, why",
    [
        (["--epochs", "0"], "--epochs 0: must be at least 1"),
        (["--modality", "m9", "--", "experiment=theory_collapse"], "--modality m9: not a modality"),
        (["--", "bogus.key=1"], "unknown config key 'bogus'"),
    ],
)
def test_bad_options_are_one_line_exit_2(argv, why, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["reference_trace.py", *argv])
    assert rt.main() == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("reference_trace: ") and why in err and "\n" not in err
