"""tasks.ctc_speech.front_end: the log-mel and subsampling layers' streaming states, mel-cepstra, SpecAugment."""

import numpy as np
import pytest
import tensorflow as tf

from tasks.ctc_speech import front_end
from tests.conftest import SPEECH_RATE as RATE


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
