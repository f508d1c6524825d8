"""`mmc report` on a sweep directory laid out as `mmc train -m` writes it (summary.json,
.hydra/overrides.yaml, metrics.jsonl, failure.json), built by hand so values are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import wilcoxon

from mmc.errors import DataError
from mmc.report.cli import main


def _job(sweep: Path, num: int, overrides: list[str], summary: dict, ranks: list[float]) -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["logger=none", *overrides]))
    (job / "config.yaml").write_text("seed: 0\n")
    (job / "summary.json").write_text(json.dumps({"status": "completed", **summary}))
    lines = [
        {"epoch": e, "rank/fused/effective": r, "rank/m0/effective": r / 2,
         "rank/fused/numerical": 2 * r, "contribution/m0": 0.5, "contribution/m1": 0.1 * e,
         "val_probe/auroc": 0.9, "val_masked/m0/auroc": 0.4, "val_masked/m1/auroc": 0.9 - 0.1 * e}
        for e, r in enumerate(ranks)
    ]  # fmt: skip
    (job / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def _summary(remedy: str, rate: float, seed: int, auroc: float, extra: dict | None = None) -> dict:
    return {
        "choices": {"dataset": "mimic", "backbone": "muse", "remedy": remedy, "logger": "none"},
        "seed": seed, "missing_rate": rate, "test_missing_rate": rate, "noise_rate": 0.0,
        "monitor": "auroc", "task": "binary", "best_epoch": 1,
        "test": {"auroc": auroc, "auprc": auroc / 2, "accuracy": 0.9},
        "rank": {"fused": {"effective": 10 * auroc}},
        "test_masked": {"m0": {"auroc": auroc - 0.2}, "m1": {"auroc": auroc - 0.05}},
        "unimodal": {"m0": {"auroc": 0.8}, "m1": {"auroc": 0.7}},
        "collapse": {"gap": 1 - auroc, "strongest": "m0", "weakest": "m1"},
        **(extra or {}),
    }  # fmt: skip


@pytest.fixture
def sweep(tmp_path) -> Path:
    sweep = tmp_path / "sweep"
    rng = np.random.default_rng(0)
    num = 0
    for remedy, base in (("none", 0.80), ("ebr", 0.85)):
        for rate in (0.1, 0.3, 0.5):
            for seed in (0, 1):
                auroc = base - rate / 10 + rng.normal(0, 0.005)
                ov = [f"remedy={remedy}", f"data.missing_rate={rate}", f"seed={seed}"]
                _job(sweep, num, ov, _summary(remedy, rate, seed, auroc), [5.0, 4.0, 3.0])
                num += 1
    failed = sweep / str(num)
    failed.mkdir()
    (failed / "failure.json").write_text(
        json.dumps({"status": "failed", "message": "training diverged"})
    )
    return sweep


def _summaries(sweep: Path) -> pd.DataFrame:
    rows = []
    for f in sweep.glob("*/summary.json"):
        s = json.loads(f.read_text())
        rows.append({"remedy": s["choices"]["remedy"], "rate": s["missing_rate"], "seed": s["seed"],
                     "auroc": s["test"]["auroc"], "auprc": s["test"]["auprc"]})  # fmt: skip
    return pd.DataFrame(rows)


def test_report_tables_match_the_summaries(sweep, capsys):
    assert main([str(sweep)]) == 0
    out = sweep / "report"
    table = pd.read_csv(out / "table.csv", index_col=0)
    truth = _summaries(sweep)
    for remedy in ("none", "ebr"):
        per_rate = truth[truth.remedy == remedy].groupby("rate")[["auroc", "auprc"]].mean()
        for metric in ("auroc", "auprc"):
            assert table.loc[remedy, f"test/{metric}/mean"] == pytest.approx(
                per_rate[metric].mean()
            )
            assert table.loc[remedy, f"test/{metric}/std"] == pytest.approx(per_rate[metric].std())
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 12 and set(runs["method"]) == {"none", "ebr"}

    # Wilcoxon: the best method (ebr) against none, paired over rate x seed (6 pairs).
    detail = pd.read_csv(out / "wilcoxon_detail.csv")
    auroc = detail[detail.metric == "test/auroc"].iloc[0]
    wide = truth.pivot_table(index=["rate", "seed"], columns="remedy", values="auroc")
    assert auroc["method"] == "none" and auroc["n_pairs"] == 6
    assert auroc["p"] == pytest.approx(wilcoxon(wide["ebr"], wide["none"]).pvalue)

    for stem in ("test_auroc_vs_missing_rate", "rank_curves", "rank_curves_numerical",
                 "contribution_curves", "masked_vs_missing_rate", "unimodal_vs_fused",
                 "dashboard"):  # fmt: skip
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / f"{stem}.pdf").read_bytes()[:4] == b"%PDF"
        assert "<svg" in (out / f"{stem}.svg").read_text()[:1000]
    svg = (out / "rank_curves.svg").read_text()
    # One panel per missing rate, modalities named by role, the band stated.
    for words in ("missing rate 10%", "missing rate 50%", "m0 (strongest)",
                  "mean ± std over 2 seeds", "effective rank (dimensions)"):  # fmt: skip
        assert words in svg, words
    dashboard = (out / "dashboard.svg").read_text()
    assert (
        "the collapse curve (missing rate 50%)" in dashboard
        and "m0 (strongest) masked" in dashboard
    )
    masked = (out / "masked_vs_missing_rate.svg").read_text()
    assert "strongest (m0) masked" in masked and "weakest (m1) masked" in masked
    page = (out / "report.md").read_text()
    assert "training diverged" in page and "![rank_curves](rank_curves.png)" in page
    printed = capsys.readouterr().out
    # The default table holds the collapse numbers, with each metric's direction.
    assert "collapse/gap ↓" in printed and "test/auroc ↑" in printed
    # ebr beats none in all 6 (rate, seed) pairs: p = 1/32 < 0.05 after Holm -> bold; the
    # gap (1 - auroc) is lower for ebr in every pair too.
    row = next(line for line in printed.splitlines() if line.startswith("| ebr |"))
    assert row.count("**") == 2 * 3  # test/auroc, test/auprc and collapse/gap


def test_rank_vs_beta_and_explicit_options(tmp_path):
    sweep = tmp_path / "beta"
    num = 0
    for remedy, drop in (("none", 3.0), ("ebr", 0.5)):
        for beta in (1, 2, 4):
            ov = [f"remedy={remedy}", f"data.modality_weight={beta}"]
            s = _summary(remedy, 0.0, 0, 0.8)
            s["rank"] = {"fused": {"effective": 20 - drop * beta}}
            _job(sweep, num, ov, s, [20.0, 20 - drop * beta])
            num += 1
    out = tmp_path / "out"
    main(
        [str(sweep), "--out", str(out), "--metrics", "rank/fused/effective", "--reference", "none"]
    )
    assert (out / "rank_vs_beta.png").stat().st_size > 1000
    table = pd.read_csv(out / "table.csv", index_col=0)
    # β is the axis, not part of the method: the ± spans the three β values.
    assert table.loc["none", "rank/fused/effective/mean"] == pytest.approx(20 - 3.0 * 7 / 3)
    assert "beta" in pd.read_csv(out / "runs.csv").columns


def test_user_errors(tmp_path, sweep):
    with pytest.raises(DataError, match="no such directory"):
        main([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no runs"):
        main([str(tmp_path / "empty")])
    with pytest.raises(DataError, match="--metrics"):
        main([str(sweep), "--metrics", "test/nope"])
    with pytest.raises(DataError, match="--method-by"):
        main([str(sweep), "--method-by", "nope"])


def test_dataset_level_missingness_is_an_axis_not_a_method(tmp_path):
    sweep = tmp_path / "avmnist"
    num = 0
    for backbone, base in (("shaspec", 0.93), ("muse", 0.94)):
        for audio_missing in (0.95, 0.8):
            ov = [f"backbone={backbone}", f"dataset.source.audio_missing={audio_missing}"]
            s = _summary("none", 0.0, 0, base + (0.95 - audio_missing) / 10)
            s["choices"]["backbone"] = backbone
            _job(sweep, num, ov, s, [1.0, 2.0])
            num += 1
    main([str(sweep), "--metrics", "test/auroc"])
    table = pd.read_csv(sweep / "report" / "table.csv", index_col=0)
    assert sorted(table.index) == ["muse", "shaspec"]
    assert table.loc["muse", "test/auroc/count"] == 2  # ± over the two audio missing rates
    assert (sweep / "report" / "test_auroc_vs_dataset.source.audio_missing.png").exists()


def test_no_bold_without_a_significant_difference(tmp_path):
    """Two seeds at one rate: 2 pairs can never give p < 0.05, so nothing is bolded even
    though one method has the higher mean."""
    sweep = tmp_path / "small"
    num = 0
    for remedy, base in (("none", 0.80), ("ebr", 0.85)):
        for seed in (0, 1):
            ov = [f"remedy={remedy}", f"seed={seed}"]
            _job(sweep, num, ov, _summary(remedy, 0.1, seed, base + seed / 100), [3.0, 2.0])
            num += 1
    main([str(sweep)])
    table = (sweep / "report" / "table.md").read_text()
    assert "**" not in table and "0.8550" in table


def test_similarity_heatmap_of_a_distilled_set(tmp_path):
    import torch

    sweep = tmp_path / "retrieval"
    for num, remedy in enumerate(("repblend", "none")):
        _job(sweep, num, [f"remedy={remedy}"], _summary(remedy, 0.0, 0, 0.8), [1.0])
    sim = torch.eye(20) + 0.1 * torch.rand(20, 20)
    torch.save({"similarity": sim}, sweep / "0" / "distilled.pt")
    main([str(sweep), "--metrics", "test/auroc"])
    out = sweep / "report"
    assert (out / "similarity_repblend.png").stat().st_size > 1000
    svg = (out / "similarity_repblend.svg").read_text()
    assert "caption (text) index" in svg and "image index" in svg
    assert "similarity target" in svg and "Distilled soft similarity" in svg  # colour bar, title
    assert not (out / "similarity_none.png").exists()  # no distilled set, no heatmap


def _retrieval_summary(remedy: str, seed: int, r_mean: float, pairs: int | None) -> dict:
    summary = {
        "choices": {"dataset": "synthetic_pairs", "remedy": remedy, "logger": "none"},
        "seed": seed, "task": "retrieval", "best_epoch": 1,
        "test": {"r_mean": r_mean, "ir@10": r_mean + 1, "tr@10": r_mean + 2},
    }  # fmt: skip
    if pairs is not None:
        summary["train_set"] = {"pairs": pairs}
    return summary


def test_pooled_sweeps_one_without_the_across_column(tmp_path, capsys):
    """A distillation sweep over data.num_pairs pooled with a full-data sweep that has no
    num_pairs at all: `--across data.num_pairs` must not crash. The full-data runs have no
    value on that axis, so they are left out of the across-table and the tests, and the
    report says so in one line."""
    distill, full = tmp_path / "distill", tmp_path / "full"
    num = 0
    for remedy, base in (("repblend", 5.0), ("repblend_lors", 4.0)):
        for pairs in (100, 200, 500):
            for seed in (0, 1, 2):
                ov = [f"remedy={remedy}", f"data.num_pairs={pairs}", f"seed={seed}"]
                s = _retrieval_summary(remedy, seed, base + pairs / 100 + seed / 10, pairs)
                _job(distill, num, ov, s, [1.0])
                num += 1
    for seed in (0, 1, 2):
        _job(full, seed, ["remedy=none", f"seed={seed}"], _retrieval_summary("none", seed, 30.0, None), [1.0])  # fmt: skip
    assert main([str(distill), str(full), "--across", "data.num_pairs"]) == 0
    out = distill / "report"
    table = pd.read_csv(out / "table.csv", index_col=0)
    assert sorted(table.index) == ["repblend", "repblend_lors"]
    # ± over the three sizes (seeds averaged first): repblend = 5 + mean(1, 2, 5) + 0.1.
    assert table.loc["repblend", "test/r_mean/mean"] == pytest.approx(5 + 8 / 3 + 0.1)
    assert table.loc["repblend", "test/r_mean/count"] == 3
    wilcoxon_table = pd.read_csv(out / "wilcoxon.csv", index_col=0)
    assert list(wilcoxon_table.index) == ["repblend_lors"]
    printed = capsys.readouterr().out
    assert "3 run(s) without data.num_pairs" in printed and "none" in printed
    # Without --across the full-data runs are a method like any other (± over seeds).
    assert main([str(distill), str(full), "--out", str(tmp_path / "all")]) == 0
    table = pd.read_csv(tmp_path / "all" / "table.csv", index_col=0)
    assert "data.num_pairs=100 / repblend" in table.index and "none" in table.index


def test_across_column_missing_from_every_run_is_a_one_line_error(tmp_path):
    full = tmp_path / "full"
    for seed in (0, 1):
        _job(full, seed, ["remedy=none", f"seed={seed}"], _retrieval_summary("none", seed, 30.0, None), [1.0])  # fmt: skip
    with pytest.raises(DataError, match="--across data.num_pairs: not a column"):
        main([str(full), "--across", "data.num_pairs"])
