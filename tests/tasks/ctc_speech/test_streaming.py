"""tasks.ctc_speech.streaming: a CTC speech model's output frames, and the same model run chunk by chunk."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tasks.ctc_speech import streaming
from tasks.ctc_speech.ctc import ctc_decode

DIGITS = "0123456789"
TINY = {"units": 8, "num_layers": 1, "conv_filters": 8, "num_mel_bins": 16, "beam_width": 4, "subsampling": 2}


def tiny_model(**overrides):
    """The CTC speech task's model, untrained, at a tiny size."""
    return zoo.create_model("ctc_speech", **{**TINY, **overrides})


def test_output_frames_follow_the_hop_and_stride():
    model = tiny_model(bidirectional=False)
    assert streaming.output_frame_samples(model) == 160  # 80-sample hop, stride 2
    np.testing.assert_array_equal(streaming.output_lengths(model, tf.constant([4000, 2400, 159, 0])), [25, 15, 1, 0])
    without_subsampling = tiny_model(bidirectional=False, subsampling=1)
    assert streaming.output_frame_samples(without_subsampling) == 80
    np.testing.assert_array_equal(streaming.output_lengths(without_subsampling, tf.constant([4000, 79])), [50, 0])


def test_only_causal_unidirectional_models_stream():
    assert streaming.can_stream(tiny_model(bidirectional=False))
    assert not streaming.can_stream(tiny_model(bidirectional=True))
    assert not streaming.can_stream(tiny_model(bidirectional=False, normalization="utterance"))


def test_the_flat_state_layout_comes_from_the_layers():
    stream = streaming.StreamingRecognizer(tiny_model(bidirectional=False, num_layers=2, cell="lstm"), DIGITS)
    # log-mel: 120 samples, Σ d, Σ d², n; conv: 2 frames of 16 mel bins; 2 LSTMs: h, c; previous symbol.
    assert stream.sizes == [120, 16, 16, 1, 2 * 16, 8, 8, 8, 8, 1] and stream.state_size == 218
    assert stream.chunk_samples == 160
    gru = streaming.StreamingRecognizer(tiny_model(bidirectional=False, subsampling=1), DIGITS)
    assert gru.sizes == [120, 16, 16, 1, 8, 1] and gru.state_size == 162
    assert gru.initial_state(3).shape == (3, 162) and not np.any(gru.initial_state(3))
    signatures = gru.signatures()
    assert set(signatures) == {"step", "initial_state"}
    assert [spec.name for spec in signatures["step"][1]] == ["audio", "state"]
    assert signatures["step"][1][1].shape.as_list() == [None, 162]


def test_mel_cepstra_stream_too():
    model = tiny_model(bidirectional=False, cepstra=6)
    stream = streaming.StreamingRecognizer(model, DIGITS)
    assert stream.sizes == [120, 16, 16, 1, 2 * 6, 8, 1]  # the conv's frames hold 6 cepstra
    waveform = np.random.default_rng(2).uniform(-0.3, 0.3, (1, 3200)).astype("float32")
    full = model({"waveform": waveform, "length": np.array([3200], "int32")}).numpy()
    state, logits = stream.initial_state(1), []
    for start in range(0, 3200, 640):
        out = stream.step(tf.constant(waveform[:, start : start + 640]), state)
        state = out["state"]
        logits.append(out["logits"].numpy())
    np.testing.assert_allclose(np.concatenate(logits, axis=1), full, atol=1e-4)


def test_streaming_gives_the_whole_utterance_logits_and_text():
    model = tiny_model(bidirectional=False, num_layers=2, cell="lstm")
    stream = streaming.StreamingRecognizer(model, DIGITS)
    rng = np.random.default_rng(1)
    waveform = (rng.uniform(-0.3, 0.3, (2, 6400)) * np.linspace(0, 1, 6400)).astype("float32")
    full = model({"waveform": waveform, "length": np.array([6400, 6400], "int32")}).numpy()
    state, logits, text = stream.initial_state(2), [], [b"", b""]
    for start in range(0, 6400, 640):
        out = stream.step(tf.constant(waveform[:, start : start + 640]), state)
        state = out["state"]
        logits.append(out["logits"].numpy())
        text = [a + b for a, b in zip(text, out["text"].numpy())]
    np.testing.assert_allclose(np.concatenate(logits, axis=1), full, atol=1e-4)
    greedy = ctc_decode(tf.constant(full), tf.constant([40, 40]), DIGITS)
    assert text == greedy.numpy().tolist()
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"multiple of 160 samples \(20 ms at 8000 Hz\)"):
        stream.step(tf.zeros([1, 100]), stream.initial_state(1))
    with pytest.raises(ValueError, match=r"streaming needs a unidirectional model with causal normalisation"):
        streaming.StreamingRecognizer(tiny_model(bidirectional=True), DIGITS)
