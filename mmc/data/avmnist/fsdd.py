"""Free Spoken Digit Dataset recordings: `{digit}_{speaker}_{index}.wav`, 8 kHz mono."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from mmc.errors import DataError, check

SAMPLE_RATE = 8000
_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")


@dataclass(frozen=True)
class Recording:
    path: Path
    digit: int
    speaker: str
    index: int


def list_recordings(folder: str | Path, speakers: list[str] | None = None) -> list[Recording]:
    """Every FSDD wav in `folder` (or its `recordings/` subfolder), sorted by name.

    Sorting makes the list, and so every seeded choice made from it, independent of the order
    in which the file system lists the folder.
    """
    folder = Path(folder)
    check(folder.is_dir(), f"FSDD folder {folder} does not exist; set dataset.fsdd_dir", DataError)
    if not any(folder.glob("*.wav")) and (folder / "recordings").is_dir():
        folder = folder / "recordings"
    recs = []
    for path in sorted(folder.glob("*.wav")):
        match = _NAME.match(path.name)
        if match:
            recs.append(Recording(path, int(match[1]), match[2], int(match[3])))
    check(
        bool(recs),
        f"no FSDD recordings named {{digit}}_{{speaker}}_{{index}}.wav in {folder}; "
        "point dataset.fsdd_dir at the free-spoken-digit-dataset recordings folder",
        DataError,
    )
    if speakers is not None:
        wanted = set(speakers)
        missing = wanted - {r.speaker for r in recs}
        check(
            not missing,
            f"FSDD folder {folder} has no recordings of speaker(s) {sorted(missing)}; "
            f"found: {sorted({r.speaker for r in recs})}",
            DataError,
        )
        recs = [r for r in recs if r.speaker in wanted]
    return recs


def read_wav(path: Path) -> np.ndarray:
    """Mono float32 waveform in [-1, 1] at 8 kHz; several channels are averaged."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # odd chunks (LIST) are fine
            rate, data = wavfile.read(path)
    except (ValueError, OSError) as e:
        raise DataError(f"{path} cannot be read as a wav file ({e})") from None
    check(
        rate == SAMPLE_RATE,
        f"{path} is sampled at {rate} Hz; FSDD recordings are 8000 Hz (resample it to 8 kHz)",
        DataError,
    )
    if data.dtype == np.uint8:
        wave = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        wave = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    else:
        wave = data.astype(np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    check(wave.size > 0, f"{path} holds no samples", DataError)
    check(bool(np.isfinite(wave).all()), f"{path} holds NaN/inf samples", DataError)
    return wave


def write_wav(path: Path, wave: np.ndarray) -> None:
    """float waveform in [-1, 1] -> 16-bit 8 kHz wav (test fixtures, demo sources)."""
    pcm = np.clip(np.round(wave * 32767.0), -32768, 32767).astype(np.int16)
    wavfile.write(path, SAMPLE_RATE, pcm)
