import numpy as np
import pytest
from scipy.io import wavfile

from mmc.data.avmnist.fsdd import list_recordings, read_wav, write_wav
from mmc.errors import DataError


def test_lists_parsed_sorted_recordings_and_filters_speakers(tmp_path):
    rec = tmp_path / "recordings"
    rec.mkdir()
    for name in ("3_theo_12.wav", "0_jackson_0.wav", "notes.wav", "7_nicolas_49.wav"):
        write_wav(rec / name, np.zeros(100))
    recs = list_recordings(tmp_path)  # finds the recordings/ subfolder
    assert [(r.digit, r.speaker, r.index) for r in recs] == [
        (0, "jackson", 0),
        (3, "theo", 12),
        (7, "nicolas", 49),
    ]
    assert [r.speaker for r in list_recordings(rec, ["theo"])] == ["theo"]
    with pytest.raises(DataError, match="no recordings of speaker"):
        list_recordings(rec, ["george"])


def test_wav_checks(tmp_path):
    wavfile.write(tmp_path / "16k.wav", 16000, np.zeros(100, np.int16))
    with pytest.raises(DataError, match="16000 Hz"):
        read_wav(tmp_path / "16k.wav")
    stereo = np.stack([np.full(50, 16384, np.int16), np.zeros(50, np.int16)], axis=1)
    wavfile.write(tmp_path / "st.wav", 8000, stereo)
    np.testing.assert_allclose(read_wav(tmp_path / "st.wav"), 0.25)
    (tmp_path / "junk.wav").write_bytes(b"not a wav")
    with pytest.raises(DataError, match="cannot be read"):
        read_wav(tmp_path / "junk.wav")
