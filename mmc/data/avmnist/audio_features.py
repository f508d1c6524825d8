"""Audio features from a waveform: the MultiBench-style spectrogram and SMIL-style MFCC.

Both spread a fixed number of analysis frames over the whole recording (the hop is chosen per
recording), so every spoken digit fills the same time axis whatever its duration.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.fft import dct

from mmc.data.avmnist.fsdd import SAMPLE_RATE


def power_frames(wave: np.ndarray, n_fft: int, n_frames: int) -> torch.Tensor:
    """|STFT|^2 of the peak-normalised waveform: [n_fft // 2 + 1, n_frames], float64."""
    x = torch.from_numpy(np.asarray(wave, dtype=np.float64))
    peak = x.abs().max()
    if peak > 0:
        x = x / peak  # loudness differs between speakers and sessions; the digit does not
    need = n_fft + n_frames - 1
    if len(x) < need:
        left = (need - len(x)) // 2
        x = torch.nn.functional.pad(x, (left, need - len(x) - left))
    hop = max(1, (len(x) - n_fft) // (n_frames - 1))
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    spec = torch.stft(
        x, n_fft, hop_length=hop, win_length=n_fft, window=window, center=False,
        return_complex=True,
    )  # fmt: skip
    return spec[:, :n_frames].abs() ** 2


def spectrogram(wave: np.ndarray, size: int = 112, floor_db: float = 80.0) -> np.ndarray:
    """size x size uint8 log-power spectrogram [frequency, time], 0..255.

    n_fft = 2 (size - 1) gives exactly `size` frequency bins from 0 Hz to Nyquist. Power is in
    dB below the recording's own maximum, clipped at -floor_db and mapped linearly to 0..255.
    """
    power = power_frames(wave, 2 * (size - 1), size)
    db = 10.0 * torch.log10(power / power.max().clamp_min(1e-20) + 1e-20)
    scaled = (db.clamp(min=-floor_db) + floor_db) / floor_db * 255.0
    return scaled.round().to(torch.uint8).numpy()


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters, equally spaced on the (HTK) mel scale.

    Filter i rises from edge i to edge i+1 and falls to edge i+2; the edges are n_mels + 2
    points equally spaced in mel from 0 Hz to the Nyquist frequency.
    """
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(sample_rate / 2), n_mels + 2))
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lo) / (mid - lo)
    falling = (hi - freqs[None, :]) / (hi - mid)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def mfcc(
    wave: np.ndarray, n_mfcc: int = 20, n_frames: int = 20, n_fft: int = 256, n_mels: int = 40
) -> np.ndarray:
    """[n_mfcc, n_frames] float32 mel-frequency cepstral coefficients.

    Power spectrum -> mel filterbank energies -> natural log -> orthonormal DCT-II over the
    mel axis, keeping the first n_mfcc coefficients (coefficient 0 is the log energy).
    """
    power = power_frames(wave, n_fft, n_frames).numpy()  # [bins, frames]
    energies = mel_filterbank(n_mels, n_fft) @ power  # [n_mels, frames]
    log_mel = np.log(energies + 1e-10)
    return dct(log_mel, type=2, axis=0, norm="ortho")[:n_mfcc].astype(np.float32)
