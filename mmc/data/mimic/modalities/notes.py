"""Clinical notes: the "Brief Hospital Course" section of each admission's discharge note,
embedded by a frozen text encoder (MUSE embeds it with a frozen BERT).

The note table (MIMIC-IV-Note, ~330k notes, several GB of text) is streamed in record batches;
only the selected section, truncated to `max_chars`, is ever held in Python.
"""

from __future__ import annotations

import re

import numpy as np

from mmc.data.mimic.tables import RawTables, duckdb_error

# Headers that follow the hospital-course section in MIMIC-IV discharge notes; any other line
# of the form "Some Header:" after a blank line also ends it.
NEXT_SECTION = (
    r"(?:\n[ \t]*(?:Medications on Admission|Discharge Medications|Discharge Disposition|"
    r"Discharge Diagnos[ie]s|Discharge Condition|Discharge Instructions|Followup Instructions|"
    r"Transitional Issues)[ \t]*:)|(?:\n[ \t]*\n[ \t]*[A-Z][A-Za-z /&-]{2,40}:[ \t]*\n)"
)


def extract_section(text: str, section: str | None, max_chars: int) -> str:
    """The named section's text (whole note when the note has no such section), truncated."""
    text = text or ""
    if section:
        head = re.search(re.escape(section) + r"[ \t]*:?", text, flags=re.I)
        if head is not None:
            rest = text[head.end() :]
            end = re.search(NEXT_SECTION, rest)
            body = rest[: end.start()] if end else rest
            if body.strip():
                text = body
    return " ".join(text.split())[:max_chars]


def note_embeddings(
    con, raw: RawTables, n: int, embed, section: str | None, max_chars: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """[n, dim] float16 embeddings and the observed mask: the latest discharge note per admission."""
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE note_pick AS
                SELECT c.idx, n.note_id FROM (
                    SELECT hadm_id, note_id, row_number() OVER (
                        PARTITION BY hadm_id ORDER BY note_seq DESC NULLS LAST,
                        charttime DESC NULLS LAST, note_id DESC) AS rk
                    FROM {raw.scan("discharge")} WHERE hadm_id IS NOT NULL) n
                JOIN cohort c USING (hadm_id) WHERE n.rk = 1"""
        )
        cursor = con.execute(
            f"""SELECT p.idx, d.text FROM {raw.scan("discharge")} d
                JOIN note_pick p USING (note_id)"""
        )
        x = np.zeros((n, embed.dim), dtype=np.float16)  # the cache stores float16 anyway
        mask = np.zeros(n, dtype=bool)
        with_section = 0
        while len(batch := cursor.fetch_df_chunk(1)):  # 2048 notes at a time
            idx = batch["idx"].to_numpy()
            texts = [t if isinstance(t, str) else "" for t in batch["text"]]
            if section:
                with_section += sum(bool(t) and section.lower() in t.lower() for t in texts)
            parts = [extract_section(t, section, max_chars) for t in texts]
            keep = np.array([bool(p) for p in parts])
            if keep.any():
                x[idx[keep]] = embed([p for p, k in zip(parts, keep) if k])
                mask[idx[keep]] = True
    except Exception as e:
        if type(e).__module__.startswith("duckdb"):
            raise duckdb_error(e, raw.paths["discharge"], "discharge notes") from None
        raise
    return x, mask, {"notes": int(mask.sum()), "with_section": int(with_section)}
