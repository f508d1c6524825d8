"""scripts/repblend_ablation.py --extra / --set: Hydra overrides that reach every sweep, last."""

import argparse
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "repblend_ablation.py"
spec = importlib.util.spec_from_file_location("repblend_ablation", SCRIPT)
ab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ab)


def test_extra_overrides_come_after_the_scripts_own(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(ab.subprocess, "call", lambda cmd, **kw: seen.append(cmd) or 0)
    args = argparse.Namespace(
        dataset="synthetic_pairs_collapse", seeds=1, eval_every=10, pairs=[100], iterations=5,
        experts=2, expert_epochs=1, extra=["remedy.iterations=7", "dataset.model.embed_dim=null"],
    )  # fmt: skip
    assert ab.sweep("RepBlend@100", args, tmp_path) == 0
    cmd = seen[0]
    assert cmd[-2:] == ["remedy.iterations=7", "dataset.model.embed_dim=null"]
    assert "remedy.iterations=5" in cmd  # the script's own value, overridden by the later one


def test_set_is_repeatable_and_the_same_list_as_extra():
    p = ab.build_parser()
    a = p.parse_args(["--set", "a=1", "--set", "b=2", "--extra", "c=3", "d=4"])
    assert a.extra == ["a=1", "b=2", "c=3", "d=4"]
    assert p.parse_args([]).extra == []
