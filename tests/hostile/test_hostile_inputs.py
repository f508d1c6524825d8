"""Hostile inputs: every one is refused with exit code 2 (130 for Ctrl-C), one line, no
traceback, and no earlier result is modified (the run directories are hashed before/after).

The CLI entry (`mmc.cli.main`) is called in-process, on tiny configs, so the table stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmc import cli

TINY = [
    "logger=none",
    "progress=false",
    "train.epochs=1",
    "dataset.source.n_train=200",
    "dataset.source.n_val=100",
    "dataset.source.n_test=100",
    "diagnostics.unimodal=false",
    "diagnostics.probe_size=64",
]
# Not results: the lock file holds the pid of the last holder, Hydra appends to its log.
NOT_RESULTS = (".mmc.lock", "train.log")


def call(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in NOT_RESULTS
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Earlier results: a completed run (with .hydra/), a partial one, a completed sweep job,
    and a tiny avMNIST folder; built once through the real CLI."""
    root = tmp_path_factory.mktemp("world")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for argv in (
            ["train", *TINY, "hydra.run.dir=done"],
            ["train", *TINY, "train.epochs=2", "hydra.run.dir=partial"],
            ["train", "-m", *TINY, "train.lr=0.001", "hydra.sweep.dir=sweep"],
        ):
            try:
                code = cli.main(argv)
            except SystemExit as e:
                code = e.code
            assert code in (0, None), argv
    finally:
        os.chdir(cwd)
    (root / "partial" / "summary.json").unlink()  # as if killed before the end
    assert (root / "sweep" / "0" / "summary.json").exists()
    av = root / "avmnist"
    for split, n in (("train", 30), ("test", 10)):
        (av / "image").mkdir(parents=True, exist_ok=True)
        (av / "audio").mkdir(parents=True, exist_ok=True)
        np.save(av / "image" / f"{split}_data.npy", np.zeros((n, 784), np.uint8))
        np.save(av / "audio" / f"{split}_data.npy", np.zeros((n, 112, 112), np.uint8))
        np.save(av / f"{split}_labels.npy", np.arange(n) % 10)
    return root


@pytest.fixture
def here(world, tmp_path, monkeypatch) -> Path:
    """A private copy of the world as the working directory."""
    shutil.copytree(world, tmp_path / "w")
    monkeypatch.chdir(tmp_path / "w")
    return tmp_path / "w"


# ---- setups: each mutates the private copy to plant the hostile input ------------------
def _garbage_ckpt(w: Path) -> None:
    (w / "partial" / "checkpoints" / "last.pt").write_bytes(b"\x00not a checkpoint" * 10)


def _truncated_ckpt(w: Path) -> None:
    p = w / "partial" / "checkpoints" / "last.pt"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _list_ckpt(w: Path) -> None:
    torch.save([1, 2, 3], w / "partial" / "checkpoints" / "last.pt")


def _empty_ckpt(w: Path) -> None:
    (w / "partial" / "checkpoints" / "last.pt").write_bytes(b"")


def _no_ckpt(w: Path) -> None:
    (w / "partial" / "checkpoints" / "last.pt").unlink()


class Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _payload_ckpt(w: Path) -> None:
    torch.save({"model": Payload()}, w / "partial" / "checkpoints" / "last.pt")


def _bad_metrics(w: Path) -> None:
    p = w / "partial" / "metrics.jsonl"
    p.write_text("{not json\n" + p.read_text())


def _bad_yaml(w: Path) -> None:
    (w / "partial" / "config.yaml").write_text("train: [unclosed\n  : :")


def _old_config(w: Path) -> None:
    """A run saved before optimiser and scheduler became config groups."""
    p = w / "partial" / "config.yaml"
    p.write_text(p.read_text().replace("train:\n", "train:\n  optimizer: adam\n", 1))


def _corrupt_summary(w: Path) -> None:
    (w / "sweep" / "0" / "summary.json").write_text('{"status": "completed", "test": {')


def _list_summary(w: Path) -> None:
    (w / "sweep" / "0" / "summary.json").write_text("[1, 2]")


def _empty_dir(w: Path) -> None:
    (w / "empty").mkdir()


def _binary_summary(w: Path) -> None:
    (w / "sweep" / "0" / "summary.json").write_bytes(b"\xff\xfe\x00\x81")


def _av(mutate):
    def setup(w: Path) -> None:
        mutate(w / "avmnist")

    return setup


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:100])


AV = ["dataset=avmnist", "dataset.root=avmnist", "dataset.source.val_size=5", *TINY[:3]]

# (id, argv, setup, expected text in the one line)
CASES = [
    # -- config values
    ("grad_clip<0", ["train", "train.grad_clip=-1"], None, "train.grad_clip=-1.0 must be > 0"),
    ("weight_decay<0", ["train", "train.weight_decay=-0.1"], None, "train.weight_decay"),
    (
        "momentum<0",
        ["train", "optimizer=sgd", "optimizer.momentum=-0.5"],
        None,
        "optimizer.momentum=-0.5",
    ),
    (
        "momentum>1",
        ["train", "optimizer=sgd", "optimizer.momentum=1.5"],
        None,
        "optimizer.momentum=1.5",
    ),
    ("dropout>1", ["train", "model.dropout=1.5"], None, "model.dropout=1.5"),
    ("step_size=0", ["train", "scheduler=step", "scheduler.step_size=0"], None, "step_size"),
    ("gamma=0", ["train", "scheduler=step", "scheduler.gamma=0"], None, "scheduler.gamma"),
    ("+key typo", ["train", "+train.epoch=5"], None, "did you mean train.epochs?"),
    ("+key unknown", ["train", "+foo=1"], None, "unknown config key 'foo'"),
    ("precision=8", ["train", "train.precision=8"], None, "train.precision='8'"),
    ("swept precision", ["train", "-m", "train.precision=32,8"], None, "train.precision='8'"),
    ("-m with --cfg", ["train", "-m", "seed=0,1", "--cfg", "job"], None, "-m and --cfg cannot"),
    ("-m with --info", ["train", "-m", "--info"], None, "-m and --info cannot be combined"),
    ("missing_rate>1", ["train", "data.missing_rate=1.5"], None, "outside [0, 1]"),
    ("noise_rate<0", ["train", "data.noise_rate=-1"], None, "data.noise_rate"),
    ("epochs=0", ["train", "train.epochs=0"], None, "train.epochs=0"),
    ("batch_size=0", ["train", "train.batch_size=0"], None, "train.batch_size=0"),
    ("seed=1.5", ["train", "dataset.source.seed=1.5"], None, "dataset.source.seed=1.5"),
    (
        "structure_seed=abc",
        ["train", "dataset=synthetic_theory", "dataset.source.structure_seed=abc"],
        None,
        "dataset.source.structure_seed='abc': a seed is a non-negative integer",
    ),
    (
        "sample_seed<0",
        ["train", "dataset=synthetic_theory", "dataset.source.sample_seed=-1"],
        None,
        "dataset.source.sample_seed=-1",
    ),
    ("lr=0", ["train", "train.lr=0"], None, "train.lr=0"),
    ("optimizer", ["train", "optimizer=adamm"], None, "unknown optimizer 'adamm'"),
    ("scheduler", ["train", "scheduler=linear"], None, "unknown scheduler 'linear'"),
    ("old optimiser key", ["train", "train.momentum=0.5"], None, "optimizer.momentum"),
    ("optimiser key", ["train", "+optimizer.nesterovv=true"], None, "optimizer.nesterovv"),
    ("probe_size", ["train", "diagnostics.probe_size=1"], None, "diagnostics.probe_size"),
    ("dim=0", ["train", "model.dim=0"], None, "model.dim=0"),
    ("unknown group", ["train", "dataset=nope"], None, "unknown dataset 'nope'"),
    ("wrong type", ["train", "train.epochs=abc"], None, "train.epochs"),
    ("key typo", ["train", "data.missing_rat=0.3"], None, "did you mean data.missing_rate?"),
    ("noise split", ["train", "data.noise_splits=[bogus]"], None, "data.noise_splits"),
    ("modality_weight", ["train", "data.modality_weight=0"], None, "data.modality_weight"),
    # -- run directories
    ("resume missing", ["train", "resume=nowhere"], None, "no such run directory"),
    ("resume empty dir", ["train", "resume=empty"], _empty_dir, "no config.yaml"),
    (
        "resume changes epochs",
        ["train", "resume=done", "train.epochs=5"],
        None,
        "train.epochs=5 would change it",
    ),
    (
        "resume changes group",
        ["train", "resume=partial", "remedy=ebr"],
        None,
        "remedy=ebr would change it",
    ),
    ("resume bad yaml", ["train", "resume=partial"], _bad_yaml, "not a readable config"),
    ("resume old config", ["train", "resume=partial"], _old_config, "has train.optimizer"),
    ("resume bad metrics", ["train", "resume=partial"], _bad_metrics, "metrics.jsonl line 1"),
    ("resume no ckpt", ["train", "resume=partial"], _no_ckpt, "no checkpoint yet"),
    (
        "run.dir holds a run",
        ["train", *TINY, "hydra.run.dir=done"],
        None,
        "already holds another run's records",
    ),
    ("run_dir holds a run", ["train", *TINY, "run_dir=partial"], None, "already holds"),
    (
        "sweep re-run other config",
        ["train", "-m", *TINY, "train.lr=0.01", "hydra.sweep.dir=sweep"],
        None,
        "train.lr differs",
    ),
    # -- checkpoints
    ("ckpt garbage", ["train", "resume=partial"], _garbage_ckpt, "partial/checkpoints/last.pt"),
    ("ckpt truncated", ["train", "resume=partial"], _truncated_ckpt, "last.pt is not a valid"),
    ("ckpt empty", ["train", "resume=partial"], _empty_ckpt, "last.pt is not a valid"),
    ("ckpt not a dict", ["train", "resume=partial"], _list_ckpt, "no model state"),
    ("ckpt payload", ["train", "resume=partial"], _payload_ckpt, "other than tensors"),
    # -- data files
    ("avmnist no root", ["train", "dataset=avmnist", "dataset.root=nope"], None, "nope"),
    (
        "avmnist truncated npy",
        ["train", *AV],
        _av(lambda r: _truncate(r / "image" / "train_data.npy")),
        "train_data.npy",
    ),
    (
        "avmnist missing labels",
        ["train", *AV],
        _av(lambda r: (r / "test_labels.npy").unlink()),
        "test_labels.npy",
    ),
    (
        "avmnist pickled npy",
        ["train", *AV],
        _av(lambda r: np.save(r / "train_labels.npy", np.array([{}] * 30), allow_pickle=True)),
        "train_labels.npy",
    ),
    (
        "avmnist nan pixels",
        ["train", *AV],
        _av(lambda r: np.save(r / "image" / "train_data.npy", np.full((30, 784), np.nan))),
        "NaN",
    ),
    # -- reports
    ("report corrupt summary", ["report", "sweep"], _corrupt_summary, "sweep/0/summary.json"),
    ("report summary list", ["report", "sweep"], _list_summary, "summary.json"),
    ("report binary summary", ["report", "sweep"], _binary_summary, "summary.json"),
    ("report no dir", ["report", "nowhere"], None, "nowhere"),
    ("report empty dir", ["report", "empty"], _empty_dir, "no runs under"),
]


@pytest.mark.parametrize(("argv", "setup", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_hostile_input_is_one_line_exit_2_and_nothing_is_lost(here, capsys, argv, setup, expected):
    if setup is not None:
        setup(here)
    before = tree_hash(here)
    code, out, err = call(argv, capsys)
    assert code == 2, (code, err[-2000:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmc: error: "), err[-2000:]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert tree_hash(here) == before, "an earlier result was modified or a file was written"
    assert not (here / "PWNED").exists(), "code from a checkpoint ran"
    assert not (here / "outputs").exists() or not any((here / "outputs").rglob("*.*"))
    assert not (here / "nowhere").exists(), "a refused command created a directory"


def test_the_table_is_large_and_spans_every_kind_of_input():
    assert len(CASES) >= 40
    kinds = {
        "config": [c for c in CASES if c[2] is None and c[1][0] == "train" and "dataset=avmnist"
                   not in c[1] and not any(a.startswith(("resume=", "hydra.", "run_dir="))
                                           for a in c[1])],
        "data files": [c for c in CASES if "dataset=avmnist" in c[1]],
        "checkpoints": [c for c in CASES if c[0].startswith("ckpt")],
        "run directories": [c for c in CASES if any(a.startswith(("resume=", "hydra.run",
                            "hydra.sweep", "run_dir=")) for a in c[1])],
        "reports": [c for c in CASES if c[1][0] == "report"],
    }  # fmt: skip
    assert all(len(v) >= 4 for v in kinds.values()), {k: len(v) for k, v in kinds.items()}


# ---- the payload checkpoint, directly: weights_only never executes it -----------------
def test_payload_checkpoint_is_refused_without_running(tmp_path):
    from mmc.errors import DataError
    from mmc.utils.checkpoint import load

    marker = tmp_path / "PWNED"
    path = tmp_path / "last.pt"

    class Touch:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"model": {}, "rng": Touch()}, path)
    with pytest.raises(DataError, match=r"last\.pt is not a valid mmc checkpoint"):
        load(path)
    assert not marker.exists()
    # Control: unrestricted unpickling creates the file (so the test can fail).
    pickle.loads(pickle.dumps(Touch()))
    assert marker.exists()


def test_a_real_checkpoint_round_trips_with_weights_only(world):
    ckpt = torch.load(world / "done" / "checkpoints" / "last.pt", weights_only=True)
    assert {"model", "optimizer", "rng", "epoch"} <= set(ckpt)


# ---- runs into one directory ------------------------------------------------------------
def test_two_runs_one_directory_second_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = call(["train", *TINY, "seed=0", "hydra.run.dir=run"], capsys)
    assert code == 0, err
    before = tree_hash(tmp_path / "run")
    code, _, err = call(["train", *TINY, "seed=1", "hydra.run.dir=run"], capsys)
    assert code == 2 and "already holds another run's records" in err
    assert tree_hash(tmp_path / "run") == before  # seed 0's result intact
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["seed"] == 0

    # At once: another process holds the directory's lock while this one starts.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from mmc.utils import rundir; "
         "rundir.lock(sys.argv[1]); print('held', flush=True); time.sleep(60)", "busy"],
        cwd=tmp_path, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = call(["train", *TINY, "hydra.run.dir=busy"], capsys)
        assert code == 2 and "is in use by another mmc run" in err, err
        assert [p.name for p in (tmp_path / "busy").iterdir()] == [".mmc.lock"]
    finally:
        holder.kill()
        holder.wait()


def test_failed_single_run_leaves_no_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = call(["train", "dataset=avmnist", "dataset.root=nope", *TINY], capsys)
    assert code == 2, err
    # Hydra had created outputs/runs/<date>/<time>/.hydra; it is gone again.
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not list(tmp_path.rglob(".hydra"))


def test_plain_resume_keeps_the_original_hydra_records(world, tmp_path, monkeypatch, capsys):
    shutil.copytree(world / "partial", tmp_path / "partial")
    monkeypatch.chdir(tmp_path)
    hydra_before = tree_hash(tmp_path / "partial" / ".hydra")
    config_before = (tmp_path / "partial" / "config.yaml").read_bytes()
    code, _, err = call(["train", "resume=partial"], capsys)
    assert code == 0, err
    assert tree_hash(tmp_path / "partial" / ".hydra") == hydra_before
    assert (tmp_path / "partial" / "config.yaml").read_bytes() == config_before
    summary = json.loads((tmp_path / "partial" / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["choices"]["dataset"] == "synthetic"


# ---- the sweep re-run --------------------------------------------------------------------
def test_sweep_rerun_with_other_config_never_touches_completed_jobs(world, tmp_path, capsys,
                                                                     monkeypatch):  # fmt: skip
    shutil.copytree(world / "sweep", tmp_path / "sweep")
    monkeypatch.chdir(tmp_path)
    before = tree_hash(tmp_path / "sweep")
    argv = ["train", "-m", *TINY, "train.lr=0.01", "hydra.sweep.dir=sweep"]
    for _ in range(2):  # refused the same way every time; nothing deleted or replaced
        code, _, err = call(argv, capsys)
        assert code == 2 and "sweep/0 holds a run with a different config" in err, err
        assert tree_hash(tmp_path / "sweep") == before
        assert not (tmp_path / "sweep" / "0" / "failure.json").exists()
    # The same command as before: job 0 is skipped as complete, its result kept.
    code, out, err = call(["train", "-m", *TINY, "train.lr=0.001", "hydra.sweep.dir=sweep"], capsys)
    assert code == 0, err
    assert "1 job(s) completed, 0 failed" in out
    assert (tmp_path / "sweep" / "0" / "summary.json").read_bytes() == (
        world / "sweep" / "0" / "summary.json"
    ).read_bytes()


def test_stale_job_dirs_of_an_older_sweep_are_reported_apart(world, tmp_path, capsys):
    from mmc.sweep.callback import sweep_outcome

    shutil.copytree(world / "sweep", tmp_path / "sweep")
    shutil.copytree(world / "sweep" / "0", tmp_path / "sweep" / "1")
    (tmp_path / "sweep" / "1" / ".hydra" / "overrides.yaml").write_text("- train.lr=0.5\n")
    from mmc.sweep.expand import sweep_jobs

    current = sweep_jobs([*TINY, "train.lr=0.001"], max_combinations=None)
    outcome = sweep_outcome(tmp_path / "sweep", current)
    assert outcome["completed"] == [tmp_path / "sweep" / "0"]
    assert outcome["stale"] == [tmp_path / "sweep" / "1"]


def test_failure_beside_a_completed_job_goes_next_to_it(world, tmp_path):
    from mmc.sweep.callback import sweep_outcome
    from mmc.sweep.jobs import record_failure

    shutil.copytree(world / "sweep", tmp_path / "sweep")
    job = tmp_path / "sweep" / "0"
    path = record_failure(job, ValueError("refused"), [])
    assert path == tmp_path / "sweep" / "0.refused.json"
    assert not (job / "failure.json").exists()
    outcome = sweep_outcome(tmp_path / "sweep")
    assert job in outcome["completed"] and path in outcome["failed"]


# ---- Ctrl-C, full disk ---------------------------------------------------------------------
def test_ctrl_c_exits_130_with_the_resume_command(tmp_path, monkeypatch, capsys):
    import mmc.runners.classification as runner

    real = runner.train_epoch

    def interrupted(*args, **kwargs):
        if args[5] >= 1:  # epoch 1: after epoch 0's checkpoint
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "train_epoch", interrupted)
    monkeypatch.chdir(tmp_path)
    code, out, err = call(["train", *TINY, "train.epochs=3", "hydra.run.dir=run"], capsys)
    assert code == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0] == f"mmc: interrupted; continue with: mmc train resume={tmp_path / 'run'}"
    assert "Traceback" not in out + err
    monkeypatch.setattr(runner, "train_epoch", real)
    code, _, err = call(["train", "resume=run"], capsys)
    assert code == 0, err


def test_full_disk_is_one_line_and_leaves_no_tmp(tmp_path, monkeypatch, capsys):
    import mmc.utils.checkpoint as ck

    def full(obj, path):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck.torch, "save", full)
    monkeypatch.chdir(tmp_path)
    code, out, err = call(["train", *TINY, "hydra.run.dir=run"], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], err
    assert "resume=" not in lines[0] or "run" in lines[0]
    assert not list(tmp_path.rglob("*.tmp"))
    assert "Traceback" not in out + err


def test_unwritable_run_directory_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("")  # a file where a directory should go: ENOTDIR for root too
    code, out, err = call(["train", *TINY, "hydra.run.dir=file/run"], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "file/run" in err
    assert "Traceback" not in out + err


def test_truncated_mimic_cache_array_names_its_path(tmp_path):
    from mmc.data.mimic.dataset import _cached
    from mmc.errors import DataError

    path = tmp_path / "labs.npy"
    np.save(path, np.zeros((50, 10), np.float32))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match=str(path)):
        _cached(path, lambda p: np.load(p, mmap_mode="r", allow_pickle=False))
