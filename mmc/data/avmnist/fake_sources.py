"""Digit-like stand-ins for the raw avMNIST sources, written in the real file formats.

`write_fake_mnist` draws seven-segment digits into MNIST idx files; `write_fake_fsdd` writes
FSDD-named wav files whose three tones per utterance spell the digit. Both are noisy in
independent ways (a segment flipped, a tone replaced, background noise), so each modality
alone is imperfect and the two together are better than either: tests and demos use them
to exercise the builders, loaders and the fusion claim without downloading anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmc.data.avmnist.fsdd import SAMPLE_RATE, write_wav
from mmc.data.avmnist.idx import write_idx

#              a  b  c  d  e  f  g   (top, top-right, bottom-right, bottom, bottom-left,
SEGMENTS = {  # top-left, middle)
    0: "abcdef", 1: "bc", 2: "abdeg", 3: "abcdg", 4: "bcfg",
    5: "acdfg", 6: "acdefg", 7: "abc", 8: "abcdefg", 9: "abcdfg",
}  # fmt: skip
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


def _segment_box(seg: str, x0: int, y0: int, w: int, h: int, t: int) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of one segment of a digit whose box starts at (y0, x0)."""
    mid = y0 + h // 2
    return {
        "a": (y0, y0 + t, x0, x0 + w),
        "d": (y0 + h - t, y0 + h, x0, x0 + w),
        "g": (mid - t // 2, mid - t // 2 + t, x0, x0 + w),
        "f": (y0, mid, x0, x0 + t),
        "e": (mid, y0 + h, x0, x0 + t),
        "b": (y0, mid, x0 + w - t, x0 + w),
        "c": (mid, y0 + h, x0 + w - t, x0 + w),
    }[seg]


def draw_digits(labels: np.ndarray, rng: np.random.Generator, flip: float = 0.25) -> np.ndarray:
    """[N, 28, 28] uint8 seven-segment digits, jittered in place, size and stroke width;
    with probability `flip` one random segment is toggled (a confusable digit)."""
    out = np.zeros((len(labels), 28, 28), dtype=np.float32)
    for n, digit in enumerate(labels):
        segs = set(SEGMENTS[int(digit)])
        if rng.random() < flip:
            segs ^= {str(rng.choice(list("abcdefg")))}
        w, h, t = rng.integers(9, 14), rng.integers(15, 21), rng.integers(2, 4)
        x0, y0 = rng.integers(2, 28 - w - 1), rng.integers(2, 28 - h - 1)
        for seg in segs:
            r0, r1, c0, c1 = _segment_box(seg, x0, y0, w, h, t)
            out[n, r0:r1, c0:c1] = rng.uniform(180, 255)
    out += rng.normal(0, 30, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def write_fake_mnist(
    folder: str | Path, n_train: int = 600, n_test: int = 200, seed: int = 0, flip: float = 0.25
) -> Path:
    """The four MNIST idx files (gzip) with seven-segment digits, balanced labels."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", draw_digits(labels, rng, flip))
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels)
    return folder


def utterance(
    digit: int, pitch: float, rng: np.random.Generator, tones: np.ndarray, confuse: float
) -> np.ndarray:
    """Three consecutive tones (with two harmonics) spelling the digit, plus noise."""
    duration = rng.uniform(0.3, 0.8)
    n = int(duration * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    freqs = tones[digit].copy()
    if rng.random() < confuse:
        freqs[rng.integers(0, 3)] = rng.uniform(tones.min(), tones.max())
    wave = np.zeros(n)
    for j, f in enumerate(freqs * pitch):
        part = (t >= j * duration / 3) & (t < (j + 1) * duration / 3)
        for k, amp in ((1, 1.0), (2, 0.5), (3, 0.25)):
            wave[part] += amp * np.sin(2 * np.pi * k * f * t[part])
    wave *= np.hanning(n)
    wave += rng.normal(0, 0.6, n)
    return 0.5 * wave / np.abs(wave).max()


def write_fake_fsdd(
    folder: str | Path,
    speakers: tuple[str, ...] = FSDD_SPEAKERS,
    per_speaker: int = 10,
    seed: int = 0,
    confuse: float = 0.35,
) -> Path:
    """`{digit}_{speaker}_{index}.wav` for every digit, speaker and index < per_speaker."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # The digit "vocabulary" is fixed, whatever the seed: train and test share it.
    tones = np.random.default_rng(12345).uniform(200, 1000, (10, 3))
    rng = np.random.default_rng(seed)
    for s, speaker in enumerate(speakers):
        pitch = 0.85 + 0.3 * s / max(len(speakers) - 1, 1)
        for digit in range(10):
            for index in range(per_speaker):
                wave = utterance(digit, pitch, rng, tones, confuse)
                write_wav(folder / f"{digit}_{speaker}_{index}.wav", wave)
    return folder
