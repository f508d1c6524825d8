"""The package's import graph (scripts/check_imports.py, read with ast): no cycle, and no
`mmc` import hidden inside a function."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_imports.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_imports", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_has_no_import_cycle_and_no_lazy_internal_import():
    report = _checker().analyse()
    assert report["modules"] > 50  # it did read the package
    assert report["cycles"] == []
    assert report["lazy_internal"] == []
    assert report["lazy_external"] == []


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "mmc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from mmc.b import g\n\ndef f():\n    return g()\n")
    (pkg / "b.py").write_text("def g():\n    from mmc.a import f\n    return f\n")
    report = _checker().analyse(tmp_path)
    assert report["cycles"] == [["mmc.a", "mmc.b"]]
    assert report["lazy_internal"] == ["mmc/b.py:2 mmc.a"]
