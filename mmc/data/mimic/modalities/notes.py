"""Clinical notes: the hospital course of each admission's discharge note, cut as MUSE cuts it,
embedded by a frozen text encoder (MUSE embeds it with a frozen BERT).

MUSE takes the text between "Brief Hospital Course:" and "Medications on Admission:" (plain,
case-sensitive string search), removes the de-identification marks `___`, and treats a note
lacking either header as missing. Sub-headers inside the course ("ACUTE ISSUES:", "# CAD:")
stay. The end header is searched after the start header (a "Medications on Admission:" before
the course cannot end it); an empty section is missing too.

Length is measured in tokens, because that is where the encoder cuts: all-MiniLM-L6-v2 reads
the first 256 word pieces and ignores the rest. The summary records the token counts and how
many notes the encoder truncated. The note table (MIMIC-IV-Note, ~330k notes, several GB of
text) is streamed in record batches.
"""

from __future__ import annotations

import numpy as np

from mmc.data.mimic.tables import RawTables, duckdb_error

MUSE_START, MUSE_END = "Brief Hospital Course:", "Medications on Admission:"


def extract_section(text: str | None, start: str | None, end: str | None) -> str | None:
    """The text between the `start` and `end` headers, `___` removed and whitespace collapsed;
    None (missing) when a header is absent or the section is empty. No headers: whole note."""
    text = text or ""
    if start:
        i = text.find(start)
        if i < 0:
            return None
        text = text[i + len(start) :]
    if end:
        j = text.find(end)
        if j < 0:
            return None
        text = text[:j]
    text = " ".join(text.replace("___", "").split())
    return text or None


def note_embeddings(
    con, raw: RawTables, n: int, embed, start: str | None, end: str | None,
    max_tokens: int | None,
) -> tuple[np.ndarray, np.ndarray, dict]:  # fmt: skip
    """[n, dim] float16 embeddings and the observed mask: the latest discharge note per admission."""
    limit = embed.max_tokens if max_tokens is None else min(int(max_tokens), embed.max_tokens)
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
        picked, tokens = 0, []
        while len(batch := cursor.fetch_df_chunk(1)):  # 2048 notes at a time
            idx = batch["idx"].to_numpy()
            picked += len(idx)
            parts = [extract_section(t if isinstance(t, str) else "", start, end) for t in batch["text"]]  # fmt: skip
            keep = np.array([p is not None for p in parts])
            if keep.any():
                texts = [p for p in parts if p is not None]
                tokens.append(embed.count_tokens(texts))
                x[idx[keep]] = embed(texts, max_tokens=limit)
                mask[idx[keep]] = True
    except Exception as e:
        if type(e).__module__.startswith("duckdb"):
            raise duckdb_error(e, raw.paths["discharge"], "discharge notes") from None
        raise
    t = np.concatenate(tokens) if tokens else np.zeros(0, dtype=np.int64)
    return (
        x,
        mask,
        {
            "notes_of_cohort": int(picked),
            "notes": int(mask.sum()),
            "missing_section": int(picked - mask.sum()),
            "section": {"start": start, "end": end},
            "token_limit": int(limit),
            "tokens_median": float(np.median(t)) if len(t) else None,
            "tokens_p90": float(np.percentile(t, 90)) if len(t) else None,
            "truncated_at_limit": int((t > limit).sum()),
        },
    )
