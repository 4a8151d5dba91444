"""zoo.audio: WAV files of any width, channel count and rate."""

import wave

import numpy as np
import pytest

from tests.conftest import SPEECH_RATE as RATE
from tests.conftest import tone, write_wav
from zoo import audio

# ------------------------------------------------------------------- WAV files


@pytest.mark.parametrize("width, step", [(1, 1 / 128), (2, 1 / 32768), (3, 2.0**-23), (4, 2.0**-31)])
def test_pcm_widths_round_trip(tmp_path, width, step):
    samples = tone()
    write_wav(tmp_path / "a.wav", samples, RATE, sample_width=width)
    read, rate = audio.read_wav(tmp_path / "a.wav")
    assert rate == RATE and read.dtype == np.float32 and read.shape == samples.shape
    np.testing.assert_allclose(read, samples, atol=step)


def test_stereo_is_averaged(tmp_path):
    left = tone()
    write_wav(tmp_path / "s.wav", np.stack([left, -0.5 * left], axis=1), RATE)
    read, _ = audio.read_wav(tmp_path / "s.wav")
    np.testing.assert_allclose(read, 0.25 * left, atol=1e-4)


def test_other_rates_are_resampled_keeping_the_pitch(tmp_path):
    write_wav(tmp_path / "hi.wav", tone(0.5, 440.0, rate=16000), 16000)
    samples, rate = audio.load_wav(tmp_path / "hi.wav", RATE)
    assert rate == 16000 and len(samples) == 4000
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.fft.rfftfreq(len(samples), 1 / RATE)[spectrum.argmax()] == pytest.approx(440.0, abs=2)
    np.testing.assert_allclose(np.sqrt(np.mean(samples**2)), 0.5 / np.sqrt(2), rtol=0.02)


def test_truncated_and_corrupt_files_are_named(tmp_path):
    write_wav(tmp_path / "full.wav", tone(), RATE)
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:1000])
    with pytest.raises(ValueError, match=r"cut.wav: truncated WAV file: the header announces 2000 frames, the file holds 478"):
        audio.read_wav(tmp_path / "cut.wav")
    (tmp_path / "head.wav").write_bytes(data[:20])
    with pytest.raises(ValueError, match=r"head.wav: (truncated WAV file|not a PCM WAV)"):
        audio.read_wav(tmp_path / "head.wav")
    (tmp_path / "noise.wav").write_bytes(b"not a wav file at all" * 10)
    with pytest.raises(ValueError, match=r"noise.wav: not a PCM WAV file we can read .*convert it to 16-bit PCM"):
        audio.read_wav(tmp_path / "noise.wav")
    with wave.open(str(tmp_path / "empty.wav"), "wb") as writer:
        writer.setnchannels(1), writer.setsampwidth(2), writer.setframerate(RATE)
    with pytest.raises(ValueError, match="empty.wav: the WAV file holds no samples"):
        audio.read_wav(tmp_path / "empty.wav")
