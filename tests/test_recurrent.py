"""The layer around a cell (zoo.layers.recurrent.FusedRNN, as zoo.GRU and zoo.LSTM)
against Keras's built-ins: masking, states, Bidirectional, serialisation, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import (
    BATCH,
    FEATURES,
    LAYER_CONFIGS,
    TIME,
    UNITS,
    assert_all_close,
    layer_classes,
    masks,
    outputs_and_gradients,
    twin_layers,
)


@pytest.mark.parametrize("config", LAYER_CONFIGS)
@pytest.mark.parametrize("mask", masks())
@pytest.mark.parametrize("go_backwards", [False, True])
def test_outputs_states_and_gradients_equal_keras(config, mask, go_backwards, rng):
    ours, theirs = twin_layers(
        config, rng, return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    mask = masks()[mask]
    our_out, our_grad = outputs_and_gradients(ours, x, mask=mask)
    their_out, their_grad = outputs_and_gradients(theirs, x, mask=mask)
    assert_all_close(our_out, their_out)
    assert_all_close(our_grad, their_grad)


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_without_bias_equals_keras(config, rng):
    ours, theirs = twin_layers(config, rng, use_bias=False, return_sequences=True)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    our_out, our_grad = outputs_and_gradients(ours, x, mask=masks()["right"])
    their_out, their_grad = outputs_and_gradients(theirs, x, mask=masks()["right"])
    assert_all_close(our_out, their_out)
    assert_all_close(our_grad, their_grad)


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_initial_state_and_last_output_equal_keras(config, rng):
    ours, theirs = twin_layers(config, rng, return_state=True)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    states = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in ours.state_size]
    mask = masks()["left_and_empty"]
    our_out, our_grad = outputs_and_gradients(ours, x, initial_state=states, mask=mask)
    their_out, their_grad = outputs_and_gradients(theirs, x, initial_state=states, mask=mask)
    assert_all_close(our_out, their_out)
    assert_all_close(our_grad, their_grad)
    # The fully masked row keeps its initial state exactly, with no NaN anywhere.
    for state, our_state in zip(states, our_out[1:]):
        np.testing.assert_array_equal(our_state[2], state[2])
    assert all(np.isfinite(o).all() for o in our_out)


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_stateful_carries_state_like_keras(config, rng):
    ours, theirs = twin_layers(config, rng, stateful=True, return_sequences=True)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    for _ in range(2):  # the second call starts from the first call's states
        np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_bidirectional_equals_keras(config, rng):
    zoo_class, keras_class, extra = layer_classes(config)
    ours = keras.layers.Bidirectional(zoo_class(UNITS, return_sequences=True, **extra))
    theirs = keras.layers.Bidirectional(
        keras_class(UNITS, return_sequences=True, use_cudnn=False, **extra)
    )
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    ours(x)
    theirs(x)
    ours.set_weights(theirs.get_weights())
    mask = masks()["right"]
    our_out, our_grad = outputs_and_gradients(ours, x, mask=mask)
    their_out, their_grad = outputs_and_gradients(theirs, x, mask=mask)
    assert_all_close(our_out, their_out)
    assert_all_close(our_grad, their_grad)


# --------------------------------------------------- serialization and graphs


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_get_config_round_trip(config):
    zoo_class, _, extra = layer_classes(config)
    layer = zoo_class(
        7,
        activation="relu",
        dropout=0.25,
        kernel_regularizer="l2",
        return_sequences=True,
        go_backwards=True,
        **extra,
    )
    config_dict = layer.get_config()
    clone = zoo_class.from_config(config_dict)
    assert clone.get_config() == config_dict
    assert clone.units == 7 and clone.go_backwards and clone.dropout == 0.25
    rebuilt = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(rebuilt) is zoo_class


def small_model(config, time_steps=None):
    zoo_class, _, extra = layer_classes(config)
    inputs = keras.Input((time_steps, FEATURES))
    hidden = keras.layers.Masking()(inputs)
    hidden = keras.layers.Bidirectional(zoo_class(UNITS, return_sequences=True, **extra))(hidden)
    hidden = zoo_class(UNITS, **extra)(hidden)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden))


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_keras_file_round_trip_with_unknown_time_length(config, rng, tmp_path):
    model = small_model(config)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    x[0, 3:] = 0.0  # padding, masked by Masking
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    longer = rng.normal(size=(BATCH, TIME + 4, FEATURES)).astype("float32")
    assert loaded.predict(longer, verbose=0).shape == (BATCH, 1)


@pytest.mark.parametrize("config", ["gru", "lstm"])
def test_fit_with_jit_compile_matches_plain_fit(config, rng):
    x = rng.normal(size=(8, TIME, FEATURES)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    losses = {}
    for jit in (False, True):
        keras.utils.set_random_seed(3)
        model = small_model(config, TIME)
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit)
        losses[jit] = model.fit(x, y, epochs=2, batch_size=4, verbose=0).history["loss"]
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)


@pytest.mark.parametrize("config", ["gru", "lstm"])
def test_saved_model_export_reloads_with_same_outputs(config, rng, tmp_path):
    model = small_model(config)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    with zoo.compiled_loops(False):
        model.export(tmp_path / "export", verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_allclose(reloaded.serve(x), model.predict(x, verbose=0), atol=1e-6)


# ------------------------------------------------------------------ bad input


def test_wrong_input_rank_names_expected_rank():
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        zoo.GRU(UNITS)(np.zeros((BATCH, FEATURES), "float32"))


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_initial_state_of_wrong_shape_is_named(config):
    zoo_class, _, extra = layer_classes(config)
    layer = zoo_class(UNITS, name="encoder", **extra)
    x = np.zeros((BATCH, TIME, FEATURES), "float32")
    states = [np.zeros((BATCH, UNITS + 1), "float32") for _ in layer.state_size]
    expected = r"encoder: `initial_state\[0\]` must have shape \(batch, units\) = \(3, 6\), got \(3, 7\)"
    with pytest.raises(ValueError, match=expected):
        layer(x, initial_state=states)


def test_initial_state_count_is_checked():
    with pytest.raises(ValueError, match="must be a list of 2 tensor"):
        zoo.LSTM(UNITS)(np.zeros((BATCH, TIME, FEATURES), "float32"),
                        initial_state=[np.zeros((BATCH, UNITS), "float32")])


def test_mask_of_wrong_shape_is_named():
    with pytest.raises(ValueError, match=r"`mask` must have shape \(batch, time\) = \(3, 5\), got \(3, 4\)"):
        zoo.GRU(UNITS)(np.zeros((BATCH, TIME, FEATURES), "float32"), mask=np.ones((BATCH, 4), bool))


# ------------------------------------------------------------------ cuDNN

GPU = bool(tf.config.list_logical_devices("GPU"))
needs_gpu = pytest.mark.skipif(not GPU, reason="cuDNN parity needs a GPU; none is visible (CI has none)")
CUDNN_CONFIGS = ["gru", "lstm"]  # GRU reset_after=False is not a cuDNN configuration


@pytest.mark.parametrize("mask, takes", [("none", True), ("right", True), ("left_and_empty", False)])
def test_cudnn_takes_right_padded_masks_without_empty_rows(mask, takes):
    from zoo.layers.recurrent import cudnn_takes_mask

    if masks()[mask] is not None:
        assert bool(cudnn_takes_mask(masks()[mask])) is takes
    only_empty = np.ones((2, 4), bool)
    only_empty[1] = False
    assert not bool(cudnn_takes_mask(only_empty))


@pytest.mark.parametrize("config, arguments, reason", [
    ("gru", {}, "no GPU is visible"),
    ("gru_reset_before", {}, "reset_after=False"),
    ("lstm", {"peepholes": True}, "peepholes=True"),
    ("lstm", {"recurrent_dropout": 0.1}, "recurrent_dropout is set"),
    ("gru", {"activation": "relu"}, "activation is not tanh"),
    ("lstm", {"use_bias": False}, "use_bias=False"),
    ("gru", {"unroll": True}, "unroll=True"),
])
def test_use_cudnn_true_names_the_condition_that_fails(config, arguments, reason, rng):
    if GPU and reason == "no GPU is visible":
        pytest.skip("a GPU is visible")
    zoo_class, _, extra = layer_classes(config)
    layer = zoo_class(UNITS, use_cudnn=True, **extra, **arguments)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    with pytest.raises(ValueError, match=rf"use_cudnn=True, but cuDNN cannot compute this layer: {reason}"):
        layer(x)
    assert zoo_class(UNITS, use_cudnn="auto", **extra, **arguments)(x).shape == (BATCH, UNITS)


def test_exports_are_traced_without_cudnn(rng):
    layer = zoo.GRU(UNITS, use_cudnn=True)
    with zoo.layers.portable_loops():
        with pytest.raises(ValueError, match="cuDNN cannot compute this layer: an export is being traced"):
            layer(rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32"))


def cudnn_stand_in(layer, calls):
    """What Keras's cuDNN call returns, computed by the fused loops (for CPU): zeros on
    padded steps, the final state as the last output."""

    def stand_in(sequences, initial_state, mask, recurrent_kernel):
        calls.append(mask is not None)
        zero_output, layer.zero_output_for_mask = layer.zero_output_for_mask, True
        try:
            _, outputs, states = layer._fused_loop(sequences, initial_state, mask, recurrent_kernel)
        finally:
            layer.zero_output_for_mask = zero_output
        return states[0], outputs if layer.return_sequences else states[0][:, None], states

    return stand_in


@pytest.mark.parametrize("config", CUDNN_CONFIGS)
@pytest.mark.parametrize("mask, cudnn_runs", [("none", True), ("right", True), ("left_and_empty", False)])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_cudnn_dispatch_picks_cudnn_for_right_padding_and_keeps_keras_conventions(
        config, mask, cudnn_runs, return_sequences, go_backwards, rng, monkeypatch):
    """The dispatch on CPU, cuDNN stood in for: which path runs for which mask, and the
    outputs (padded steps included) and gradients equal Keras's."""
    ours, theirs = twin_layers(config, rng, return_sequences=return_sequences, return_state=True,
                               go_backwards=go_backwards)
    calls = []
    monkeypatch.setattr(ours, "cudnn_refusal", lambda: None)
    monkeypatch.setattr(ours, "cudnn_sequence", cudnn_stand_in(ours, calls))
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    our_out, our_grad = outputs_and_gradients(ours, x, mask=masks()[mask])
    their_out, their_grad = outputs_and_gradients(theirs, x, mask=masks()[mask])
    assert bool(calls) is cudnn_runs and not ours.supports_jit
    assert_all_close(our_out, their_out)
    assert_all_close(our_grad, their_grad)


@needs_gpu
@pytest.mark.parametrize("config", CUDNN_CONFIGS)
@pytest.mark.parametrize("mask", ["none", "right"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_cudnn_equals_keras_cudnn_on_gpu(config, mask, go_backwards, rng):
    zoo_class, keras_class, extra = layer_classes(config)
    ours = zoo_class(UNITS, return_sequences=True, return_state=True, go_backwards=go_backwards,
                     use_cudnn=True, **extra)
    theirs = keras_class(UNITS, return_sequences=True, return_state=True, go_backwards=go_backwards,
                         use_cudnn=True, **extra)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    ours(x), theirs(x)
    ours.set_weights(theirs.get_weights())
    our_out, our_grad = outputs_and_gradients(ours, x, mask=masks()[mask])
    their_out, their_grad = outputs_and_gradients(theirs, x, mask=masks()[mask])
    assert_all_close(our_out, their_out)
    assert_all_close(our_grad, their_grad)


@needs_gpu
@pytest.mark.parametrize("config", CUDNN_CONFIGS)
def test_cudnn_auto_equals_the_fused_loops_on_gpu_including_left_padding(config, rng):
    ours, theirs = twin_layers(config, rng, return_sequences=True)
    fused = layer_classes(config)[0](UNITS, return_sequences=True, use_cudnn=False, **layer_classes(config)[2])
    fused.build((BATCH, TIME, FEATURES))
    fused.set_weights(ours.get_weights())
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    for mask in ("right", "left_and_empty"):
        assert_all_close(outputs_and_gradients(ours, x, mask=masks()[mask]),
                         outputs_and_gradients(fused, x, mask=masks()[mask]))
