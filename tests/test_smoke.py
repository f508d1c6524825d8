from mmc.train import train


def test_default_experiment_runs_end_to_end(compose, tmp_path):
    summary = train(compose(run_dir=tmp_path))
    assert summary["status"] == "completed"
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 3
    assert (tmp_path / "checkpoints" / "best.pt").exists()
    assert set(summary["test_masked"]) == {"m0", "m1"}
