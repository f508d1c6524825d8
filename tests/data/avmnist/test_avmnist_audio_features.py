import numpy as np

from mmc.data.avmnist.audio_features import mel_filterbank, mel_to_hz, mfcc, spectrogram

SR = 8000


def tone(freq: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return np.sin(2 * np.pi * freq * t)


def test_spectrogram_is_112x112_uint8_with_the_tone_in_its_bin():
    for freq in (500.0, 2000.0):
        spec = spectrogram(tone(freq))
        assert spec.shape == (112, 112) and spec.dtype == np.uint8
        peak_bin = int(spec.astype(float).mean(axis=1).argmax())
        assert abs(peak_bin - round(freq / (SR / 2) * 111)) <= 1
        assert spec.max() == 255  # dB relative to the recording's own maximum


def test_spectrogram_spreads_frames_over_short_and_long_recordings():
    # A tone that changes halfway: the change sits mid-axis whatever the duration.
    for seconds in (0.2, 1.5):
        wave = np.concatenate([tone(500, seconds / 2), tone(2000, seconds / 2)])
        spec = spectrogram(wave).astype(float)
        low, high = round(500 / 4000 * 111), round(2000 / 4000 * 111)
        switch = int(np.argmax(spec[high] > spec[low]))
        assert 50 <= switch <= 62


def test_mel_filterbank_triangles_rise_along_the_mel_scale():
    fb = mel_filterbank(40, 256)
    assert fb.shape == (40, 129) and fb.min() >= 0 and fb.max() <= 1
    centres = fb.argmax(axis=1)
    assert (np.diff(centres) >= 0).all() and (fb.sum(axis=1) > 0).all()
    # Equal mel spacing: high-frequency filters are wider than low-frequency ones.
    assert (fb[-1] > 0).sum() > (fb[1] > 0).sum()
    assert abs(mel_to_hz(2595 * np.log10(1 + 1000 / 700)) - 1000) < 1e-6


def test_mfcc_shape_and_cepstral_mechanics():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=4000)
    c = mfcc(noise)
    assert c.shape == (20, 20) and c.dtype == np.float32 and np.isfinite(c).all()
    # Coefficient 0 of an orthonormal DCT-II is the mean log-mel energy times sqrt(n_mels):
    # louder-in-total frames (noise everywhere) beat a pure tone, whose energy sits in a few
    # filters. Higher coefficients describe spectral shape: tone and noise differ there.
    t = mfcc(tone(1000, 0.5))
    assert c[0].mean() > t[0].mean()
    assert np.abs(c[1:] - t[1:]).mean() > 1.0
    # Peak normalisation: the MFCCs do not depend on loudness.
    np.testing.assert_allclose(mfcc(0.1 * noise), c, rtol=1e-4, atol=1e-4)
