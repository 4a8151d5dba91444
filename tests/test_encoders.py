"""zoo.encoders: the Transformer and convolutional baselines (`--cell transformer`, `--cell cnn`)."""

import json

import keras
import numpy as np
import pytest

from zoo.builders import SEQUENCE_MODELS, recurrent_stack
from zoo.encoders import ConvEncoder, TransformerEncoder, sinusoid_positions

ENCODERS = [TransformerEncoder, ConvEncoder]


@pytest.fixture
def sequences(rng):
    x = rng.normal(size=(3, 7, 5)).astype("float32")
    mask = np.ones((3, 7), bool)
    mask[1, 4:] = False  # right padding
    mask[2] = False  # an empty row
    return x, mask


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("causal", [True, False])
def test_shapes_masked_steps_and_the_mask_kept(encoder, causal, sequences):
    x, mask = sequences
    layer = encoder(16, num_layers=2, causal=causal)
    outputs = np.asarray(layer(x, mask=mask))
    assert outputs.shape == (3, 7, 16) and np.isfinite(outputs).all()
    assert not outputs[1, 4:].any() and not outputs[2].any()  # zeros where masked
    np.testing.assert_array_equal(layer.compute_mask(x, mask), mask)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_a_causal_step_sees_only_the_past(encoder, sequences):
    x, _ = sequences
    changed = x.copy()
    changed[0, 5] += 1.0
    for causal, earlier_unchanged in ((True, True), (False, False)):
        layer = encoder(16, num_layers=2, causal=causal)
        difference = np.abs(np.asarray(layer(changed))[0, :5] - np.asarray(layer(x))[0, :5]).max()
        assert bool(difference < 1e-6) is earlier_unchanged


@pytest.mark.parametrize("encoder", ENCODERS)
def test_streamed_steps_equal_the_whole_sequence(encoder, rng):
    x = rng.normal(size=(2, 9, 5)).astype("float32")
    layer = encoder(16, num_layers=3, causal=True)
    whole = np.asarray(layer(x))
    state = layer.stream_state(2)
    for t in range(9):
        output, state = layer.step(x[:, t], state)
        np.testing.assert_allclose(np.asarray(output), whole[:, t], atol=2e-5)


def test_the_transformer_cache_grows_and_the_convolution_window_does_not():
    transformer, convolution = TransformerEncoder(32, num_layers=2, causal=True), ConvEncoder(32, num_layers=2, causal=True)
    x = np.zeros((1, 4), "float32")
    for layer in (transformer, convolution):
        layer(x[:, None])
    assert [tuple(s.shape) for s in transformer.stream_state(1, past_steps=100)] == [(1, 100, 2, 16)] * 4
    _, state = transformer.step(x, transformer.stream_state(1, past_steps=100))
    assert tuple(state[0].shape) == (1, 101, 2, 16)
    window = [tuple(s.shape) for s in convolution.stream_state(1, past_steps=100)]
    assert window == [(1, 4, 32), (1, 8, 32)]  # (k - 1) * 2^l past inputs, k = 5
    _, state = convolution.step(x, convolution.stream_state(1))
    assert [tuple(s.shape) for s in state] == window


@pytest.mark.parametrize("encoder", ENCODERS)
def test_a_bidirectional_encoder_does_not_stream(encoder):
    layer = encoder(16, causal=False, name="seeing_ahead")
    with pytest.raises(ValueError, match="seeing_ahead: streaming needs a causal encoder"):
        layer.stream_state(1)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_the_last_step_is_the_last_unmasked_one(encoder, sequences):
    x, mask = sequences
    whole = encoder(8, causal=True)
    sequence = np.asarray(whole(x, mask=mask))
    last = encoder.from_config({**whole.get_config(), "return_sequences": False})
    last(x)
    last.set_weights(whole.get_weights())
    final = np.asarray(last(x, mask=mask))
    np.testing.assert_allclose(final[0], sequence[0, -1], atol=1e-6)
    np.testing.assert_allclose(final[1], sequence[1, 3], atol=1e-6)
    assert not final[2].any()


@pytest.mark.parametrize("encoder", ENCODERS)
def test_saved_and_loaded_with_its_model(encoder, sequences, tmp_path):
    x, _ = sequences
    inputs = keras.Input((None, 5))
    model = keras.Model(inputs, keras.layers.Dense(1)(encoder(8, num_layers=2, return_sequences=False)(inputs)))
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "model.keras")(x), model(x), atol=1e-6)


def test_sinusoid_positions():
    encoding = np.asarray(sinusoid_positions(4, 6))
    assert encoding.shape == (4, 6)
    np.testing.assert_allclose(encoding[:, 0], np.sin(np.arange(4)), atol=1e-6)
    np.testing.assert_allclose(encoding[:, 1], np.cos(np.arange(4)), atol=1e-6)


def test_the_cell_names_reach_the_task_stacks():
    assert {"transformer", "cnn", "gru", "lstm"} <= set(SEQUENCE_MODELS)
    hidden = recurrent_stack(keras.Input((None, 5)), cell="cnn", units=8, num_layers=3, bidirectional=False)
    (encoder,) = [layer for layer in hidden._keras_history.operation._inbound_nodes[0].operation.convolutions[:1]]
    assert encoder.padding == "causal"


def test_train_py_trains_and_exports_a_transformer(tmp_path):
    import train
    import zoo

    train.main(["--task", "forecasting", "--cell", "transformer", "--synthetic-series", "8", "--units", "16",
                "--steps-per-epoch", "2", "--epochs", "1", "--quiet", "--output-dir", str(tmp_path / "runs"),
                "--export-dir", str(tmp_path / "sm")])
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "config.json").read_text())["cell"] == "transformer"
    forecast = zoo.load(tmp_path / "sm" / "forecasting-transformer" / "1")(
        history=np.arange(1, 50, dtype="float32")[None])["forecast"]
    assert np.isfinite(forecast).all()


def test_a_speech_transformer_has_no_on_device_form(tmp_path):
    import train

    with pytest.raises(SystemExit, match="--cell transformer has no streaming step"):
        train.main(["--task", "ctc_speech", "--cell", "transformer", "--formats", "litert",
                    "--output-dir", str(tmp_path / "runs"), "--export-dir", str(tmp_path / "sm")])
