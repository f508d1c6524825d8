"""Generate MIMIC-IV-schema gzip CSV tables of any size (synthetic; no real patient data).

The layout, column names and value formats are those of the PhysioNet release
(`<out>/hosp/*.csv.gz`, optional `<out>/note/discharge.csv.gz`); codes follow Zipf-like
frequencies, some values are missing (outpatient labs without hadm_id, non-numeric lab
values, empty flags, patients without a date of death), and free text contains commas,
quotes and newlines. Used by the tests (tiny) and by scripts/bench_mimic_prepare.py (millions
of labevents rows, written in chunks so memory stays flat).

    python scripts/make_mimic_tables.py --out /tmp/mimic-gen --lab-rows 1000000 [--notes]
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

COLUMNS = {
    "patients": ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"],
    "admissions": [
        "subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type",
        "admit_provider_id", "admission_location", "discharge_location", "insurance", "language",
        "marital_status", "race", "edregtime", "edouttime", "hospital_expire_flag",
    ],
    "diagnoses_icd": ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"],
    "d_icd_diagnoses": ["icd_code", "icd_version", "long_title"],
    "procedures_icd": ["subject_id", "hadm_id", "seq_num", "chartdate", "icd_code", "icd_version"],
    "d_icd_procedures": ["icd_code", "icd_version", "long_title"],
    "prescriptions": [
        "subject_id", "hadm_id", "pharmacy_id", "poe_id", "poe_seq", "order_provider_id",
        "starttime", "stoptime", "drug_type", "drug", "formulary_drug_cd", "gsn", "ndc",
        "prod_strength", "form_rx", "dose_val_rx", "dose_unit_rx", "form_val_disp",
        "form_unit_disp", "doses_per_24_hrs", "route",
    ],
    "labevents": [
        "labevent_id", "subject_id", "hadm_id", "specimen_id", "itemid", "order_provider_id",
        "charttime", "storetime", "value", "valuenum", "valueuom", "ref_range_lower",
        "ref_range_upper", "flag", "priority", "comments",
    ],
    "d_labitems": ["itemid", "label", "fluid", "category"],
    "discharge": [
        "note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text",
    ],
}  # fmt: skip

# (itemid, label, fluid, mean, sd, unit, relative frequency): the MUSE analytes under their
# real MIMIC-IV item ids, plus common items that must *not* match the keywords.
LAB_ITEMS = [
    (50971, "Potassium", "Blood", 4.2, 0.6, "mEq/L", 30),
    (50983, "Sodium", "Blood", 139, 4, "mEq/L", 30),
    (50912, "Creatinine", "Blood", 1.2, 1.0, "mg/dL", 30),
    (51221, "Hematocrit", "Blood", 33, 6, "%", 28),
    (50882, "Bicarbonate", "Blood", 25, 4, "mEq/L", 28),
    (51265, "Platelet Count", "Blood", 230, 110, "K/uL", 27),
    (50885, "Bilirubin, Total", "Blood", 1.0, 1.5, "mg/dL", 10),
    (50820, "pH", "Blood", 7.38, 0.07, "units", 9),
    (50813, "Lactate", "Blood", 1.9, 1.3, "mmol/L", 7),
    (51491, "pH", "Urine", 6.0, 0.8, "units", 3),
    (51516, "WBC", "Urine", 10, 20, "#/hpf", 2),
    (50822, "Potassium, Whole Blood", "Blood", 4.1, 0.6, "mEq/L", 3),
    (51301, "White Blood Cells", "Blood", 9, 4, "K/uL", 27),
    (50931, "Glucose", "Blood", 130, 50, "mg/dL", 28),
    (50902, "Chloride", "Blood", 102, 5, "mEq/L", 28),
    (51006, "Urea Nitrogen", "Blood", 25, 18, "mg/dL", 28),
    (51222, "Hemoglobin", "Blood", 11, 2, "g/dL", 27),
    (50868, "Anion Gap", "Blood", 14, 3, "mEq/L", 27),
    (50960, "Magnesium", "Blood", 2.0, 0.3, "mg/dL", 20),
    (50970, "Phosphate", "Blood", 3.5, 1.0, "mg/dL", 18),
]  # fmt: skip
RACES = ["WHITE", "BLACK/AFRICAN AMERICAN", "HISPANIC/LATINO - PUERTO RICAN", "ASIAN - CHINESE",
         "OTHER", "UNKNOWN", "WHITE - OTHER EUROPEAN", "UNABLE TO OBTAIN"]  # fmt: skip
RACE_P = [0.6, 0.14, 0.05, 0.04, 0.05, 0.06, 0.03, 0.03]
LABS_PER_ADMISSION = 250  # full MIMIC-IV: ~118M labevents rows / ~431k admissions, some outpatient
OUTPATIENT_LAB_SHARE = 0.3


def zipf_choice(rng: np.random.Generator, n_values: int, size: int, a: float = 1.1) -> np.ndarray:
    """Indices in [0, n_values) with Zipf-like frequencies (rank r ~ 1 / r^a)."""
    p = 1.0 / np.arange(1, n_values + 1) ** a
    return rng.choice(n_values, size=size, p=p / p.sum())


def ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype("datetime64[s]"))


class Writer:
    """A gzip CSV with an unquoted header, written in chunks (quotes only where needed)."""

    def __init__(self, path: Path, columns: list[str], level: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.columns = columns
        # gzip level 1: the bottleneck of writing 10^7 rows is compression, not formatting.
        self.stream = gzip.open(path, "wb", compresslevel=level)  # noqa: SIM115 (closed by close())
        self.stream.write((",".join(columns) + "\n").encode())

    def write(self, data: dict) -> None:
        table = pa.table(
            {
                c: data[c] if c in data else pa.nulls(_length(data), pa.string())
                for c in self.columns
            }
        )
        pacsv.write_csv(
            table, self.stream, pacsv.WriteOptions(include_header=False, quoting_style="needed")
        )

    def close(self) -> None:
        self.stream.close()


def _length(data: dict) -> int:
    return len(next(iter(data.values())))


def generate(
    out: Path, lab_rows: int, patients: int | None, notes: bool, seed: int, chunk: int, level: int,
    sentinel_share: float = 1e-4,
) -> dict:  # fmt: skip
    rng = np.random.default_rng(seed)
    hosp = out / "hosp"
    # ---------------------------------------------------------------- patients, admissions
    n_adm_target = max(lab_rows * (1 - OUTPATIENT_LAB_SHARE) / LABS_PER_ADMISSION, 20)
    n_pat = patients or max(int(n_adm_target / 2.4), 10)
    per_pat = rng.geometric(0.45, n_pat)  # admissions per patient, mean ~2.2
    n_adm = int(per_pat.sum())
    subject = 10_000_000 + np.arange(n_pat)
    anchor_age = np.where(
        rng.random(n_pat) < 0.04, rng.integers(0, 18, n_pat), rng.integers(18, 92, n_pat)
    )
    anchor_year = rng.integers(2110, 2200, n_pat)
    adm_subject = np.repeat(subject, per_pat)
    pat_of_adm = np.repeat(np.arange(n_pat), per_pat)
    # Admissions of a patient follow one another with gaps of days to years.
    first = (anchor_year[pat_of_adm] - 1970).astype(np.int64) * 31_556_952 + rng.integers(
        0, 31_556_952, n_adm
    )
    los = np.exp(rng.normal(1.3, 0.8, n_adm)) * 86400  # median ~3.7 days, ~10% over 10 days
    gap = np.exp(rng.normal(4.0, 1.6, n_adm)) * 86400
    start = np.empty(n_adm, dtype=np.int64)
    pos = np.concatenate([[0], np.cumsum(per_pat)[:-1]])
    is_first = np.zeros(n_adm, dtype=bool)
    is_first[pos] = True
    t = 0
    for i in range(n_adm):  # sequential by construction; n_adm is at most a few hundred thousand
        t = first[i] if is_first[i] else t + int(gap[i])
        start[i] = t
        t = t + int(los[i])
    start = (start // 60) * 60
    disch = start + (los // 60).astype(np.int64) * 60
    hadm = 20_000_000 + rng.permutation(n_adm)
    expire = (rng.random(n_adm) < 0.02).astype(np.int64)
    last_disch = np.zeros(n_pat, dtype=np.int64)
    np.maximum.at(last_disch, pat_of_adm, disch)
    died = rng.random(n_pat) < 0.18
    dod_s = last_disch + (rng.exponential(120, n_pat) * 86400).astype(np.int64)
    expire_pat = np.zeros(n_pat, dtype=bool)
    expire_pat[pat_of_adm[expire == 1]] = True
    dod_s = np.where(expire_pat, last_disch, dod_s)
    has_dod = died | expire_pat

    w = Writer(hosp / "patients.csv.gz", COLUMNS["patients"], level)
    groups = np.array(["2008 - 2010", "2011 - 2013", "2014 - 2016", "2017 - 2019"])
    w.write({
        "subject_id": pa.array(subject), "gender": pa.array(rng.choice(["F", "M"], n_pat)),
        "anchor_age": pa.array(anchor_age), "anchor_year": pa.array(anchor_year),
        "anchor_year_group": pa.array(groups[rng.integers(0, 4, n_pat)]),
        "dod": pa.array((dod_s // 86400).astype("datetime64[D]"), mask=~has_dod),
    })  # fmt: skip
    w.close()

    w = Writer(hosp / "admissions.csv.gz", COLUMNS["admissions"], level)
    ed = rng.random(n_adm) < 0.5
    w.write({
        "subject_id": pa.array(adm_subject), "hadm_id": pa.array(hadm),
        "admittime": ts(start), "dischtime": ts(disch),
        "deathtime": pa.array(disch.astype("datetime64[s]"), mask=expire == 0),
        "admission_type": pa.array(rng.choice(["EW EMER.", "URGENT", "ELECTIVE", "OBSERVATION ADMIT"], n_adm)),
        "admit_provider_id": pa.array([f"P{v:05X}" for v in rng.integers(0, 99999, n_adm)]),
        "admission_location": pa.array(rng.choice(["EMERGENCY ROOM", "PHYSICIAN REFERRAL", "TRANSFER FROM HOSPITAL"], n_adm)),
        "discharge_location": pa.array(rng.choice(["HOME", "HOME HEALTH CARE", "SKILLED NURSING FACILITY"], n_adm)),
        "insurance": pa.array(rng.choice(["Medicare", "Medicaid", "Other"], n_adm)),
        "language": pa.array(rng.choice(["ENGLISH", "?"], n_adm, p=[0.9, 0.1])),
        "marital_status": pa.array(rng.choice(["MARRIED", "SINGLE", "WIDOWED", "DIVORCED"], n_adm)),
        "race": pa.array(rng.choice(RACES, n_adm, p=RACE_P)),
        "edregtime": pa.array((start - 7200).astype("datetime64[s]"), mask=~ed),
        "edouttime": pa.array(start.astype("datetime64[s]"), mask=~ed),
        "hospital_expire_flag": pa.array(expire),
    })  # fmt: skip
    w.close()

    # ---------------------------------------------------------------- dictionaries, codes
    n_dx, n_px, n_drug = 3000, 800, 600
    dx_codes = np.array(
        [f"{rng.integers(0, 99999):05d}"[: rng.integers(3, 6)] + str(i) for i in range(n_dx)]
    )
    px_codes = np.array([f"0{i:05d}" for i in range(n_px)])
    drugs = np.array(
        [
            f"Drug {i} {rng.choice(['Sodium Chloride 0.9%', 'Tablet', 'Injection, 5 mg/mL', 'Oral Solution'])}"
            for i in range(n_drug)
        ]
    )
    for name, codes, kind in (
        ("d_icd_diagnoses", dx_codes, "diagnosis"),
        ("d_icd_procedures", px_codes, "procedure"),
    ):
        w = Writer(hosp / f"{name}.csv.gz", COLUMNS[name], level)
        version = np.where(np.arange(len(codes)) % 2 == 0, 9, 10)
        w.write({"icd_code": pa.array(codes), "icd_version": pa.array(version),
                 "long_title": pa.array([f"Synthetic {kind} {i}, \"type {i % 7}\"" for i in range(len(codes))])})  # fmt: skip
        w.close()

    def per_admission(mean: float) -> tuple[np.ndarray, np.ndarray]:
        k = rng.poisson(mean, n_adm)
        return np.repeat(np.arange(n_adm), k), np.concatenate(
            [np.arange(1, v + 1) for v in k]
        ) if k.sum() else np.zeros(0, int)

    a, seq = per_admission(11)
    c = zipf_choice(rng, n_dx, len(a))
    w = Writer(hosp / "diagnoses_icd.csv.gz", COLUMNS["diagnoses_icd"], level)
    w.write({"subject_id": pa.array(adm_subject[a]), "hadm_id": pa.array(hadm[a]), "seq_num": pa.array(seq),
             "icd_code": pa.array(dx_codes[c]), "icd_version": pa.array(np.where(c % 2 == 0, 9, 10))})  # fmt: skip
    w.close()

    a, seq = per_admission(1.6)
    c = zipf_choice(rng, n_px, len(a))
    day = start[a] + (rng.random(len(a)) * (disch[a] - start[a])).astype(np.int64)
    w = Writer(hosp / "procedures_icd.csv.gz", COLUMNS["procedures_icd"], level)
    w.write({"subject_id": pa.array(adm_subject[a]), "hadm_id": pa.array(hadm[a]), "seq_num": pa.array(seq),
             "chartdate": pa.array((day // 86400).astype("datetime64[D]")),
             "icd_code": pa.array(px_codes[c]), "icd_version": pa.array(np.where(c % 2 == 0, 9, 10))})  # fmt: skip
    w.close()

    a, _ = per_admission(36)
    c = zipf_choice(rng, n_drug, len(a))
    st = start[a] + (rng.random(len(a)) * (disch[a] - start[a])).astype(np.int64) // 3600 * 3600
    no_start = rng.random(len(a)) < 0.01
    w = Writer(hosp / "prescriptions.csv.gz", COLUMNS["prescriptions"], level)
    w.write({
        "subject_id": pa.array(adm_subject[a]), "hadm_id": pa.array(hadm[a]),
        "pharmacy_id": pa.array(rng.integers(1, 99_999_999, len(a))),
        "starttime": pa.array(st.astype("datetime64[s]"), mask=no_start),
        "stoptime": ts(st + 86400 * rng.integers(1, 5, len(a))),
        "drug_type": pa.array(np.full(len(a), "MAIN")), "drug": pa.array(drugs[c]),
        "dose_val_rx": pa.array(rng.integers(1, 500, len(a)).astype(str)),
        "route": pa.array(rng.choice(["PO", "IV", "SC"], len(a))),
    })  # fmt: skip
    w.close()

    # ---------------------------------------------------------------- labs (the big one)
    w = Writer(hosp / "d_labitems.csv.gz", COLUMNS["d_labitems"], level)
    items = np.array([it[0] for it in LAB_ITEMS])
    w.write({"itemid": pa.array(items), "label": pa.array([it[1] for it in LAB_ITEMS]),
             "fluid": pa.array([it[2] for it in LAB_ITEMS]),
             "category": pa.array(np.full(len(items), "Chemistry"))})  # fmt: skip
    w.close()
    item_p = np.array([it[6] for it in LAB_ITEMS], dtype=float)
    item_p /= item_p.sum()
    mean = np.array([it[3] for it in LAB_ITEMS])
    sd = np.array([it[4] for it in LAB_ITEMS])
    unit = np.array([it[5] for it in LAB_ITEMS])
    slots = np.maximum(np.ceil((disch - start) / 86400 * 3), 1).astype(np.int64)  # ~3 draws a day
    w = Writer(hosp / "labevents.csv.gz", COLUMNS["labevents"], level)
    written = 0
    while written < lab_rows:
        m = min(chunk, lab_rows - written)
        a = rng.integers(0, n_adm, m)
        outpatient = rng.random(m) < OUTPATIENT_LAB_SHARE
        slot = (rng.random(m) * slots[a]).astype(np.int64)
        when = start[a] + slot * ((disch[a] - start[a]) // slots[a])
        when = np.where(outpatient, when - 86400 * rng.integers(30, 400, m), when) // 60 * 60
        k = rng.choice(len(LAB_ITEMS), m, p=item_p)
        val = np.round(mean[k] + sd[k] * rng.standard_normal(m), 2)
        sentinel = rng.random(m) < sentinel_share  # MIMIC has absurd values (e.g. 999999)
        val = np.where(sentinel, 999999.0, val)
        text_val = rng.random(m) < 0.03
        abnormal = np.abs(val - mean[k]) > 1.5 * sd[k]
        comment = rng.random(m) < 0.01
        value_str = val.astype(str).astype(object)
        value_str[text_val] = "___"
        w.write({
            "labevent_id": pa.array(written + np.arange(m)), "subject_id": pa.array(adm_subject[a]),
            "hadm_id": pa.array(hadm[a], mask=outpatient), "specimen_id": pa.array(rng.integers(1, 99_999_999, m)),
            "itemid": pa.array(items[k]), "charttime": ts(when), "storetime": ts(when + 5400),
            "value": pa.array(value_str, pa.string()), "valuenum": pa.array(val, mask=text_val),
            "valueuom": pa.array(unit[k]), "ref_range_lower": pa.array(np.round(mean[k] - 2 * sd[k], 1)),
            "ref_range_upper": pa.array(np.round(mean[k] + 2 * sd[k], 1)),
            "flag": pa.array(np.full(m, "abnormal"), mask=~abnormal),
            "priority": pa.array(rng.choice(["ROUTINE", "STAT"], m)),
            "comments": pa.array(np.full(m, 'Verified, "see note"\nrepeat'), mask=~comment),
        })  # fmt: skip
        written += m
    w.close()

    # ---------------------------------------------------------------- discharge notes
    if notes:
        has = rng.random(n_adm) < 0.85
        idx = np.flatnonzero(has)
        texts = []
        for i in idx:
            course = (
                f"Patient admitted with condition {int(rng.integers(0, 50))}. Treated with drug "
                f'{int(rng.integers(0, 30))}, "improved", discharged day {int((disch[i] - start[i]) // 86400)}.'
            )
            # Sub-headers inside the course, as real notes have them; about one note in ten
            # has no "Medications on Admission:" header (MUSE treats those as missing).
            end = (
                "Medications on Admission:\nThe Preadmission Medication list is accurate.\n\n"
                if rng.random() > 0.1
                else ""
            )
            texts.append(
                "Name:  ___                    Unit No:   ___\n\nChief Complaint:\nshortness of breath\n\n"
                f"Brief Hospital Course:\nMr. ___ {course}\n\nACUTE ISSUES:\n# Problem 1: stable on "
                f"day {int(rng.integers(1, 9))}\n\n{end}Discharge Disposition:\nHome\n"
            )
        w = Writer(out / "note" / "discharge.csv.gz", COLUMNS["discharge"], level)
        w.write({
            "note_id": pa.array([f"{adm_subject[i]}-DS-{j}" for j, i in enumerate(idx)]),
            "subject_id": pa.array(adm_subject[idx]), "hadm_id": pa.array(hadm[idx]),
            "note_type": pa.array(np.full(len(idx), "DS")), "note_seq": pa.array(np.full(len(idx), 1)),
            "charttime": ts(disch[idx]), "storetime": ts(disch[idx] + 3600), "text": pa.array(texts),
        })  # fmt: skip
        w.close()
    return {"patients": n_pat, "admissions": n_adm, "labevents": int(lab_rows)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lab-rows", type=int, default=20_000, help="labevents rows to write")
    p.add_argument("--patients", type=int, default=None, help="default: scaled to --lab-rows")
    p.add_argument("--notes", action="store_true", help="also write note/discharge.csv.gz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk", type=int, default=1_000_000, help="labevents rows per write")
    p.add_argument("--gzip-level", type=int, default=1)
    p.add_argument("--sentinel-share", type=float, default=1e-4, help="lab values set to 999999")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    facts = generate(
        a.out, a.lab_rows, a.patients, a.notes, a.seed, a.chunk, a.gzip_level, a.sentinel_share
    )
    print(f"wrote {facts} to {a.out} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
