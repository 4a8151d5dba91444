"""zoo.audio: WAV files, the log-mel and subsampling front end's streaming states, SpecAugment."""

import wave

import numpy as np
import pytest
import tensorflow as tf

from tasks.ctc_speech import front_end
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


# ------------------------------------------------------- streaming state shapes


def test_front_end_layers_give_their_streaming_state_shapes():
    log_mel = front_end.LogMelSpectrogram(RATE, 200, 80, num_mel_bins=16)
    # [last 200 - 80 samples, Σ d, Σ d², n]
    assert log_mel.stream_state_shapes() == [(120,), (16,), (16,), (1,)]
    states = log_mel.initial_state(3)
    assert [tuple(s.shape) for s in states] == [(3, 120), (3, 16), (3, 16), (3, 1)]
    assert all(not np.any(s) for s in states)
    features, states = log_mel.stream(tf.ones([3, 160]), states)
    assert features.shape == (3, 2, 16)
    assert [tuple(s.shape[1:]) for s in states] == log_mel.stream_state_shapes()

    subsampling = front_end.ConvSubsampling(8, stride=2)  # kernel 4: 2 frames before each stride
    assert subsampling.stream_state_shapes(16) == [(2, 16)]
    (state,) = subsampling.initial_state(3, 16)
    assert state.shape == (3, 2, 16) and not np.any(state)
    subsampling.build((None, None, 16))
    outputs, states = subsampling.stream(features, [state])
    assert outputs.shape == (3, 1, 8)
    assert [tuple(s.shape[1:]) for s in states] == subsampling.stream_state_shapes(16)


def test_mel_cepstra_are_the_orthonormal_dct_of_the_normalised_log_mel_and_stream_alike(rng):
    waveform = tf.constant(rng.normal(size=(2, 1600)).astype("float32"))
    lengths = tf.constant([1600, 960])
    log_mel = front_end.LogMelSpectrogram(RATE, 200, 80, num_mel_bins=16)
    cepstra = front_end.LogMelSpectrogram(RATE, 200, 80, num_mel_bins=16, cepstra=6)
    full = front_end.LogMelSpectrogram(RATE, 200, 80, num_mel_bins=16, cepstra=16)
    mel, kept, every = (np.asarray(layer([waveform, lengths])) for layer in (log_mel, cepstra, full))
    assert kept.shape == (2, 20, 6) and cepstra.feature_size == 6 and log_mel.feature_size == 16
    np.testing.assert_allclose(np.linalg.norm(every, axis=-1), np.linalg.norm(mel, axis=-1), rtol=1e-4)  # orthonormal
    np.testing.assert_allclose(kept, every[..., :6], atol=1e-5)
    np.testing.assert_allclose(kept[..., 0], mel.sum(axis=-1) / 4, atol=1e-4)  # c0 = Σ x / √16
    states, streamed = cepstra.initial_state(2), []
    for start in range(0, 1600, 400):
        features, states = cepstra.stream(waveform[:, start:start + 400], states)
        streamed.append(np.asarray(features))
    np.testing.assert_allclose(np.concatenate(streamed, axis=1)[0], kept[0], atol=1e-4)
    with pytest.raises(ValueError, match="cepstra 17: give 1 to num_mel_bins"):
        front_end.LogMelSpectrogram(RATE, 200, 80, num_mel_bins=16, cepstra=17)


# ------------------------------------------------------------------ SpecAugment


def test_spec_augment_masks_in_training_only():
    features = tf.ones([3, 50, 16])
    layer = front_end.SpecAugment(frequency_masks=2, frequency_width=4, time_masks=2, time_width=5, seed=1)
    assert np.array_equal(layer(features), features)
    masked = layer(features, training=True).numpy()
    kept = masked.mean()
    assert 1 - (2 * 4 * 50 + 2 * 5 * 16) / (50 * 16) <= kept < 1
    bands = (masked == 0).all(axis=1).sum(axis=1)  # whole masked mel bins per utterance
    assert np.all(bands <= 8)
