"""Bad input fails early with one line naming the file and what was expected."""

import gzip
import shutil

import pytest

from mmc.data.mimic.dataset import load_mimic
from mmc.data.mimic.prepare import prepare_mimic
from mmc.errors import ConfigError, DataError


@pytest.fixture
def tables(tmp_path, generated):
    root = tmp_path / "mimic"
    shutil.copytree(generated / "hosp", root / "hosp")
    return root


def rewrite(path, transform):
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        text = f.read()
    with gzip.open(path, "wb") as f:
        f.write(transform(text) if isinstance(transform(text), bytes) else transform(text).encode())


def prepare(root, tmp_path):
    return prepare_mimic(root=str(root), cache_dir=str(tmp_path / "cache"))


def test_missing_table(tables, tmp_path):
    (tables / "hosp" / "labevents.csv.gz").unlink()
    with pytest.raises(DataError, match=r"missing table .*hosp/labevents\.csv\.gz"):
        prepare(tables, tmp_path)


def test_missing_column_names_the_file_and_the_column(tables, tmp_path):
    rewrite(tables / "hosp" / "d_labitems.csv.gz", lambda t: t.replace("label", "name", 1))
    with pytest.raises(DataError, match=r"d_labitems\.csv\.gz lacks column\(s\) label"):
        prepare(tables, tmp_path)


def test_wrong_delimiter(tables, tmp_path):
    rewrite(tables / "hosp" / "patients.csv.gz", lambda t: t.replace(",", "\t"))
    with pytest.raises(DataError, match=r"patients\.csv\.gz is delimited by '\\t'"):
        prepare(tables, tmp_path)


def test_wrong_encoding(tables, tmp_path):
    rewrite(
        tables / "hosp" / "admissions.csv.gz", lambda t: "subject_id,r\xe9gion\n".encode("latin-1")
    )
    with pytest.raises(DataError, match=r"admissions\.csv\.gz: the header is not UTF-8"):
        prepare(tables, tmp_path)


def test_not_gzip(tables, tmp_path):
    (tables / "hosp" / "prescriptions.csv.gz").write_text("subject_id,hadm_id\n1,2\n")
    with pytest.raises(DataError, match=r"prescriptions\.csv\.gz is not a readable gzip file"):
        prepare(tables, tmp_path)


def test_malformed_value_names_the_file(tables, tmp_path):
    rewrite(tables / "hosp" / "diagnoses_icd.csv.gz", lambda t: t.replace(",200", ",abc", 1))
    with pytest.raises(DataError, match=r"diagnoses_icd\.csv\.gz: could not read"):
        prepare(tables, tmp_path)


def test_empty_cohort(tables, tmp_path):
    # Every admission 20 days long: nobody passes the length-of-stay rule.
    def stretch(text):
        from io import StringIO

        import pandas as pd

        df = pd.read_csv(StringIO(text))
        df["dischtime"] = (pd.to_datetime(df.admittime) + pd.Timedelta(days=20)).dt.strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        return df.to_csv(index=False)

    rewrite(tables / "hosp" / "admissions.csv.gz", stretch)
    with pytest.raises(
        DataError, match=r"admissions\.csv\.gz: no admission passes the cohort rules"
    ):
        prepare(tables, tmp_path)


def test_config_errors(tables, tmp_path):
    with pytest.raises(ConfigError, match="dataset.root is not set"):
        prepare_mimic(root=None, cache_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="has no hosp/ subfolder"):
        prepare_mimic(root=str(tmp_path), cache_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="dataset.task='death'"):
        load_mimic(task="death", root=str(tables), cache_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="did you mean dataset.source.split_by"):
        load_mimic(root=str(tables), cache_dir=str(tmp_path), split_bye="patient")
    with pytest.raises(ConfigError, match="dataset.split_by='hospital'"):
        prepare_mimic(root=str(tables), cache_dir=str(tmp_path), split_by="hospital")


def test_cli_prints_one_line_and_exits_2(tables, tmp_path, capsys):
    from mmc.cli import main

    (tables / "hosp" / "patients.csv.gz").unlink()
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["prepare", "dataset=mimic", f"dataset.root={tables}", f"dataset.cache_dir={tmp_path}"]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("mmc: error: missing table") and "patients.csv.gz" in err and "\n" not in err
    )


def test_demo_prepares_under_a_512mb_duckdb_limit(demo_root, tmp_path):
    summary = prepare_mimic(
        root=str(demo_root), cache_dir=str(tmp_path), memory_limit="512MB", threads=2
    )
    assert summary["cohort"]["admissions"] == 201
    assert summary["labels"]["readmission"] == {"positive": 27, "negative": 108, "unlabelled": 66}


def test_a_real_out_of_memory_names_the_setting_to_raise(demo_root, tmp_path, capsys):
    from mmc.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", "dataset=mimic", f"dataset.root={demo_root}",
              f"dataset.cache_dir={tmp_path}", "dataset.memory_limit=16MB"])  # fmt: skip
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mmc: error: DuckDB ran out of memory") and "\n" not in err
    assert "dataset.memory_limit=16MB" in err and "dataset.memory_limit=32MB" in err
    assert "labevents.csv.gz" not in err and "admissions.csv.gz" not in err  # not the file's fault
    assert not list((tmp_path / "mimic").iterdir())  # the half-built entry is gone


def test_duckdb_progress_bar_follows_the_terminal(tmp_path):
    from mmc.data.mimic.prepare import RunOptions, _connect

    def setting(progress):
        con = _connect(tmp_path, RunOptions(progress=progress))
        try:
            return con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0]
        finally:
            con.close()
            (tmp_path / "work.duckdb").unlink()

    assert setting(True) is True and setting(False) is False
    assert setting(None) is False  # pytest's output is not a terminal


def test_joins_keep_their_written_order(tmp_path):
    """DuckDB cannot size a CSV scan (it guessed 42 rows for 30M lab rows), so its join-order
    optimizer hashed the lab rows, a table growing with the file, instead of the cohort."""
    from mmc.data.mimic.prepare import RunOptions, _connect

    con = _connect(tmp_path, RunOptions(progress=False))
    try:
        disabled = con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0]
    finally:
        con.close()
    assert "join_order" in str(disabled).lower()
