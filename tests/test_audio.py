"""zoo.audio: recordings of any format, sample width, channel count and rate."""

import wave

import numpy as np
import pytest
import soundfile

from tests.conftest import SPEECH_RATE as RATE
from tests.conftest import tone, write_wav
from zoo import audio

# ------------------------------------------------------------------- WAV files


@pytest.mark.parametrize("width, step", [(1, 1 / 128), (2, 1 / 32768), (3, 2.0**-23), (4, 2.0**-31)])
def test_pcm_widths_round_trip(tmp_path, width, step):
    samples = tone()
    write_wav(tmp_path / "a.wav", samples, RATE, sample_width=width)
    read, rate = audio.read_audio(tmp_path / "a.wav")
    assert rate == RATE and read.dtype == np.float32 and read.shape == samples.shape
    np.testing.assert_allclose(read, samples, atol=step)


def test_stereo_is_averaged(tmp_path):
    left = tone()
    write_wav(tmp_path / "s.wav", np.stack([left, -0.5 * left], axis=1), RATE)
    read, _ = audio.read_audio(tmp_path / "s.wav")
    np.testing.assert_allclose(read, 0.25 * left, atol=1e-4)


@pytest.mark.parametrize("file_format, subtype, tolerance", [
    ("FLAC", "PCM_16", 1 / 32768), ("WAV", "FLOAT", 1e-7), ("OGG", "VORBIS", 0.05), ("OGG", "OPUS", 0.1),
    ("MP3", "MPEG_LAYER_III", 0.1),
])
def test_what_people_record_is_read(tmp_path, file_format, subtype, tolerance):
    """FLAC and float WAV exactly (to their precision); the lossy codecs near enough: their RMS error is
    small beside the tone's (0.35), whatever delay or padding the codec adds at the ends."""
    samples = tone(1.0, rate=48000 if subtype == "OPUS" else RATE, amplitude=0.5)
    rate = 48000 if subtype == "OPUS" else RATE
    path = tmp_path / f"clip.{'opus' if subtype == 'OPUS' else file_format.lower()}"
    soundfile.write(path, samples, rate, format=file_format, subtype=subtype)
    read, read_rate = audio.read_audio(path)
    assert read_rate == rate and read.dtype == np.float32
    if tolerance < 1e-3:
        np.testing.assert_allclose(read, samples, atol=tolerance)
    else:
        middle = slice(len(samples) // 4, len(samples) // 2)
        assert abs(len(read) - len(samples)) < rate // 10
        best = min(np.sqrt(np.mean((read[middle.start + lag:middle.stop + lag] - samples[middle]) ** 2))
                   for lag in range(0, 2000))
        assert best < tolerance


def test_other_rates_are_resampled_keeping_the_pitch(tmp_path):
    write_wav(tmp_path / "hi.wav", tone(0.5, 440.0, rate=16000), 16000)
    samples, rate = audio.load_audio(tmp_path / "hi.wav", RATE)
    assert rate == 16000 and len(samples) == 4000
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.fft.rfftfreq(len(samples), 1 / RATE)[spectrum.argmax()] == pytest.approx(440.0, abs=2)
    np.testing.assert_allclose(np.sqrt(np.mean(samples**2)), 0.5 / np.sqrt(2), rtol=0.02)


def test_truncated_and_corrupt_files_are_named_and_an_empty_one_reads_as_no_samples(tmp_path):
    write_wav(tmp_path / "full.wav", tone(), RATE)
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:1000])
    with pytest.raises(ValueError, match=r"cut.wav: truncated WAV file: the header announces 2000 frames, the file holds 478"):
        audio.read_audio(tmp_path / "cut.wav")
    (tmp_path / "head.wav").write_bytes(data[:20])
    with pytest.raises(ValueError, match=r"head.wav: not an audio file we can read \(Error in WAV.*\); give WAV, FLAC"):
        audio.read_audio(tmp_path / "head.wav")
    (tmp_path / "noise.wav").write_bytes(b"not a wav file at all" * 10)
    with pytest.raises(ValueError, match=r"noise.wav: not an audio file we can read \(Format not recognised\.\); give WAV, FLAC, OGG/Opus or MP3, or convert it"):
        audio.read_audio(tmp_path / "noise.wav")
    with wave.open(str(tmp_path / "empty.wav"), "wb") as writer:
        writer.setnchannels(1), writer.setsampwidth(2), writer.setframerate(RATE)
    samples, rate = audio.read_audio(tmp_path / "empty.wav")  # no samples: nothing said, not an error
    assert samples.shape == (0,) and samples.dtype == np.float32 and rate == RATE
    assert audio.load_audio(tmp_path / "empty.wav", RATE // 2)[0].shape == (0,)


def test_a_non_integer_rate_ratio_resamples_to_the_nearest_length():
    """A voice sped up by 7% (the synthetic voices): 8,000 × 1.07 Hz to 8,000 Hz."""
    samples = tone(1.0, 300.0, rate=8560)
    out = audio.resample(samples, 8000 * 1.07, 8000)
    assert abs(len(out) - 8000) <= 1
    spectrum = np.abs(np.fft.rfft(out))
    assert np.fft.rfftfreq(len(out), 1 / 8000)[spectrum.argmax()] == pytest.approx(300.0, abs=2)  # the same tone, fewer samples
