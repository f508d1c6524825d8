"""The raw MIMIC-IV tables: where they live, which columns they must have, and how DuckDB reads them.

Every table is checked (exists, is gzip/plain UTF-8 CSV, comma-delimited, has the columns the
protocol uses) before any heavy work starts, so a wrong folder fails in a second with a message
naming the file. Reading is done by DuckDB straight from the gzip CSV: it streams, so the
118M-row `labevents` is never held in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from mmc.errors import ConfigError, DataError, check


@dataclass(frozen=True)
class TableSpec:
    folder: str  # "hosp" or "note", relative to the data root
    name: str
    # Columns the protocol reads, with the DuckDB type they are parsed as. Other columns of the
    # file are read as VARCHAR and never touched.
    types: dict[str, str]


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "hosp",
            "patients",
            {"subject_id": "BIGINT", "gender": "VARCHAR", "anchor_age": "INTEGER",
             "anchor_year": "INTEGER", "dod": "DATE"},
        ),
        TableSpec(
            "hosp",
            "admissions",
            {"subject_id": "BIGINT", "hadm_id": "BIGINT", "admittime": "TIMESTAMP",
             "dischtime": "TIMESTAMP", "race": "VARCHAR", "hospital_expire_flag": "INTEGER"},
        ),
        TableSpec(
            "hosp",
            "diagnoses_icd",
            {"hadm_id": "BIGINT", "seq_num": "INTEGER", "icd_code": "VARCHAR",
             "icd_version": "INTEGER"},
        ),
        TableSpec(
            "hosp",
            "d_icd_diagnoses",
            {"icd_code": "VARCHAR", "icd_version": "INTEGER", "long_title": "VARCHAR"},
        ),
        TableSpec(
            "hosp",
            "procedures_icd",
            {"hadm_id": "BIGINT", "seq_num": "INTEGER", "chartdate": "DATE",
             "icd_code": "VARCHAR", "icd_version": "INTEGER"},
        ),
        TableSpec(
            "hosp",
            "d_icd_procedures",
            {"icd_code": "VARCHAR", "icd_version": "INTEGER", "long_title": "VARCHAR"},
        ),
        TableSpec(
            "hosp",
            "prescriptions",
            {"hadm_id": "BIGINT", "starttime": "TIMESTAMP", "drug": "VARCHAR"},
        ),
        TableSpec(
            "hosp",
            "labevents",
            {"hadm_id": "BIGINT", "itemid": "INTEGER", "charttime": "TIMESTAMP",
             "valuenum": "DOUBLE", "flag": "VARCHAR"},
        ),
        TableSpec("hosp", "d_labitems", {"itemid": "INTEGER", "label": "VARCHAR"}),
        TableSpec(
            "note",
            "discharge",
            {"note_id": "VARCHAR", "hadm_id": "BIGINT", "note_seq": "INTEGER",
             "charttime": "TIMESTAMP", "text": "VARCHAR"},
        ),
    )
}  # fmt: skip

HOSP_TABLES = [n for n, t in TABLES.items() if t.folder == "hosp"]


def table_path(root: Path, name: str) -> Path:
    """`<root>/<folder>/<name>.csv.gz`, or the uncompressed `.csv` when only that exists."""
    spec = TABLES[name]
    gz = Path(root) / spec.folder / f"{name}.csv.gz"
    plain = gz.with_suffix("")
    if not gz.exists() and plain.exists():
        return plain
    return gz


def check_root(root: str | Path | None, option: str, folder: str) -> Path:
    check(
        root is not None and str(root) not in ("", "???"),
        f"{option} is not set; point it at the MIMIC-IV folder that holds {folder}/ "
        f"(e.g. {option}=/data/mimic-iv-2.2)",
    )
    path = Path(str(root)).expanduser()
    check(path.is_dir(), f"{option}={root}: no such folder")
    check(
        (path / folder).is_dir(),
        f"{option}={root} has no {folder}/ subfolder; point it at the folder that holds "
        f"{folder}/ (the PhysioNet layout)",
    )
    return path


def read_header(path: Path) -> list[str]:
    """The header's column names; a DataError naming the file for anything unreadable."""
    if not path.exists():
        raise DataError(f"missing table {path}: the MIMIC-IV layout needs this file (gzip CSV)")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.readline(1 << 20)
    except (OSError, EOFError) as e:
        raise DataError(f"{path} is not a readable gzip file ({e}); expected a gzip CSV") from None
    try:
        line = raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise DataError(f"{path}: the header is not UTF-8 text; expected a UTF-8 CSV") from None
    check(line.strip() != "", f"{path} is empty; expected a CSV with a header row", DataError)
    if "," not in line:
        found = next((d for d in ("\t", ";", "|") if d in line), None)
        if found is not None:
            raise DataError(
                f"{path} is delimited by {found!r}; MIMIC-IV tables are comma-separated "
                "(re-export it with ',' as the delimiter)"
            )
    return [c.strip().strip('"') for c in line.split(",")]


def check_table(root: Path, name: str) -> Path:
    path = table_path(root, name)
    header = read_header(path)
    missing = [c for c in TABLES[name].types if c not in header]
    check(
        not missing,
        f"{path} lacks column(s) {', '.join(missing)}; expected at least "
        f"{', '.join(TABLES[name].types)}",
        DataError,
    )
    return path


def scan_sql(path: Path, name: str) -> str:
    """A DuckDB `read_csv(...)` expression for the table, every column typed explicitly.

    Explicit types (no sniffing) make the scan streaming-friendly and turn a malformed value
    into an error instead of a silently re-typed column.
    """
    header = read_header(path)
    types = TABLES[name].types
    cols = ", ".join(f"'{c}': '{types.get(c, 'VARCHAR')}'" for c in header)
    p = str(path).replace("'", "''")
    return (
        f"read_csv('{p}', header=true, delim=',', quote='\"', escape='\"', "
        # Timestamps/dates are ISO (MIMIC's format): DuckDB's fast default parser reads them.
        # max_line_size stays small on purpose: DuckDB's CSV reader sizes its per-thread
        # buffers from it (16 MB lines meant 256 MiB buffers per thread, which made memory grow
        # with the file and broke memory_limit=512MB). MIMIC rows are far below it.
        f"columns={{{cols}}}, auto_detect=false{_line_size(name)})"
    )


def _line_size(name: str) -> str:
    """1 MB lines and 4 MB read buffers for the hosp tables, whose rows are short: DuckDB's
    default buffer (16 x 2 MB per thread) cost ~70 MiB of peak memory and no speed (measured on
    1M lab rows: 1.2 vs 1.1 CPU-s for the scan). The discharge notes keep DuckDB's default 2 MB
    lines (a long note is a few hundred KB) but 8 MB buffers: the default 32 MB per thread
    would not fit a small memory_limit (64MB) with more than one thread."""
    if TABLES[name].folder == "note":
        return ", max_line_size=2097152, buffer_size=8388608"
    return ", max_line_size=1048576, buffer_size=4194304"


def fingerprint(path: Path) -> dict:
    """Cheap identity of an input file: size, mtime and a hash of its first and last 64 KiB.

    Hashing a 2.5 GB file on every run would make an unchanged cache take seconds to find;
    size + ends catch replaced or truncated files, mtime catches edits in place.
    """
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(65536))
        if st.st_size > 65536:
            f.seek(max(st.st_size - 65536, 65536))
            h.update(f.read(65536))
    return {
        "file": path.name,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ends": h.hexdigest()[:16],
    }


def is_out_of_memory(e: BaseException) -> bool:
    return type(e).__name__ == "OutOfMemoryException" or "out of memory" in str(e).lower()


def doubled(memory_limit: str) -> str:
    """'512MB' -> '1024MB', '3GB' -> '6GB': a concrete next value to suggest."""
    return scaled(memory_limit, 2.0) or "4GB"


def scaled(memory_limit: str, factor: float) -> str | None:
    """'128MB' x 0.5 -> '64MB' (same unit); None when the value is not `<number><unit>`."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]i?B)?\s*", memory_limit, flags=re.I)
    if m is None:
        return None
    value, unit = float(m.group(1)) * factor, (m.group(2) or "B").upper().replace("IB", "B")
    return f"{value:g}{unit}"


def out_of_memory_error(e: BaseException, memory_limit: str, what: str) -> ConfigError:
    """A real out-of-memory names the setting to raise, not the input file."""
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return ConfigError(
        f"DuckDB ran out of memory while {what} with dataset.memory_limit={memory_limit} "
        f"({first[:160]}); raise it, e.g. dataset.memory_limit={doubled(memory_limit)} "
        "(or lower dataset.threads)"
    )


def duckdb_error(e: Exception, path: Path | str, what: str) -> Exception:
    """The file-naming DataError for a read failure; an out-of-memory passes through unchanged
    (it is not the file's fault: the preparation turns it into out_of_memory_error)."""
    if is_out_of_memory(e):
        return e
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return DataError(
        f"{path}: could not read {what} ({first}); check the file is an intact MIMIC-IV CSV"
    )


def require_duckdb():
    try:
        import duckdb
    except ImportError:
        raise ConfigError(
            "dataset=mimic needs duckdb to stream the raw tables; pip install 'duckdb>=1.0'"
        ) from None
    return duckdb


class RawTables:
    """The checked input files of one preparation: their paths and DuckDB scan expressions."""

    def __init__(self, root: str | Path | None, note_root: str | Path | None = None) -> None:
        self.root = check_root(root, "dataset.root", "hosp")
        self.paths = {name: check_table(self.root, name) for name in HOSP_TABLES}
        self.note_root = None
        if note_root not in (None, ""):
            self.note_root = check_root(note_root, "dataset.note_root", "note")
            self.paths["discharge"] = check_table(self.note_root, "discharge")

    @property
    def has_notes(self) -> bool:
        return "discharge" in self.paths

    def scan(self, name: str) -> str:
        return scan_sql(self.paths[name], name)

    def fingerprints(self) -> dict[str, dict]:
        return {name: fingerprint(p) for name, p in sorted(self.paths.items())}
