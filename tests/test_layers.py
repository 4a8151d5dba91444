"""zoo.GRU / zoo.LSTM against Keras's built-ins and an independent NumPy reference."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.layers import fused

BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 6
CONFIGS = {
    "gru": (zoo.GRU, keras.layers.GRU, {"reset_after": True}),
    "gru_reset_before": (zoo.GRU, keras.layers.GRU, {"reset_after": False}),
    "lstm": (zoo.LSTM, keras.layers.LSTM, {}),
}


def masks():
    right = np.ones((BATCH, TIME), bool)
    right[1, 3:] = False  # right-padded
    left = np.ones((BATCH, TIME), bool)
    left[0, :2] = False  # left-padded
    left[2, :] = False  # fully masked row
    return {"none": None, "right": right, "left_and_empty": left}


def twin_layers(config, rng, **kwargs):
    """A zoo layer and the Keras layer, holding the same random weights."""
    zoo_class, keras_class, extra = CONFIGS[config]
    ours = zoo_class(UNITS, **extra, **kwargs)
    theirs = keras_class(UNITS, use_cudnn=False, **extra, **kwargs)
    shape = (BATCH, TIME, FEATURES)
    ours.build(shape)
    theirs.build(shape)
    weights = [0.5 * rng.normal(size=w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


def outputs_and_gradients(layer, x, **call_kwargs):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, **call_kwargs)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        loss = sum(tf.reduce_sum(tf.sin(o)) for o in outputs)
    gradients = tape.gradient(loss, [x] + layer.trainable_weights)
    return [o.numpy() for o in outputs], [g.numpy() for g in gradients]


def assert_all_close(ours, theirs, atol=1e-5):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("config", CONFIGS)
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


@pytest.mark.parametrize("config", CONFIGS)
def test_without_bias_equals_keras(config, rng):
    ours, theirs = twin_layers(config, rng, use_bias=False, return_sequences=True)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    our_out, our_grad = outputs_and_gradients(ours, x, mask=masks()["right"])
    their_out, their_grad = outputs_and_gradients(theirs, x, mask=masks()["right"])
    assert_all_close(our_out, their_out)
    assert_all_close(our_grad, their_grad)


@pytest.mark.parametrize("config", CONFIGS)
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


@pytest.mark.parametrize("config", CONFIGS)
def test_stateful_carries_state_like_keras(config, rng):
    ours, theirs = twin_layers(config, rng, stateful=True, return_sequences=True)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    for _ in range(2):  # the second call starts from the first call's states
        np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS)
def test_bidirectional_equals_keras(config, rng):
    zoo_class, keras_class, extra = CONFIGS[config]
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


# --------------------------------------------------------------- NumPy reference


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_gru(x, kernel, recurrent_kernel, bias, reset_after):
    """The GRU equations, one step at a time, separate matrices per gate."""
    units = recurrent_kernel.shape[0]
    W_z, W_r, W_h = np.split(kernel, 3, axis=1)
    U_z, U_r, U_h = np.split(recurrent_kernel, 3, axis=1)
    if reset_after:
        (b_z, b_r, b_h), (c_z, c_r, c_h) = np.split(bias[0], 3), np.split(bias[1], 3)
    else:
        (b_z, b_r, b_h), (c_z, c_r, c_h) = np.split(bias, 3), (0, 0, 0)
    h = np.zeros((x.shape[0], units))
    outputs = []
    for x_t in x.transpose(1, 0, 2):
        z = sigmoid(x_t @ W_z + b_z + h @ U_z + c_z)
        r = sigmoid(x_t @ W_r + b_r + h @ U_r + c_r)
        if reset_after:
            candidate = np.tanh(x_t @ W_h + b_h + r * (h @ U_h + c_h))
        else:
            candidate = np.tanh(x_t @ W_h + b_h + (r * h) @ U_h)
        h = z * h + (1 - z) * candidate
        outputs.append(h)
    return np.stack(outputs, axis=1)


def numpy_lstm(x, kernel, recurrent_kernel, bias):
    units = recurrent_kernel.shape[0]
    h = c = np.zeros((x.shape[0], units))
    outputs = []
    for x_t in x.transpose(1, 0, 2):
        a_i, a_f, a_c, a_o = np.split(x_t @ kernel + h @ recurrent_kernel + bias, 4, axis=1)
        i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)
        c = f * c + i * np.tanh(a_c)
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("unroll", [False, True])
def test_layer_equals_numpy_equations(config, unroll, rng):
    ours, _ = twin_layers(config, rng, return_sequences=True, unroll=unroll)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    weights = [w.astype("float64") for w in ours.get_weights()]
    if config == "lstm":
        expected = numpy_lstm(x, *weights)
    else:
        expected = numpy_gru(x, *weights, reset_after=ours.reset_after)
    np.testing.assert_allclose(ours(x), expected, atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS)
def test_cell_one_step_at_a_time_equals_layer(config, rng):
    ours, _ = twin_layers(config, rng, return_sequences=True)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    states = ours.cell.get_initial_state(BATCH)
    steps = []
    for t in range(TIME):
        output, states = ours.cell(x[:, t], states)
        steps.append(output)
    np.testing.assert_allclose(np.stack(steps, axis=1), ours(x), atol=1e-6)


def test_unit_forget_bias_starts_forget_gate_at_one():
    layer = zoo.LSTM(UNITS)
    layer.build((None, TIME, FEATURES))
    bias = layer.get_weights()[2]
    np.testing.assert_array_equal(bias[UNITS : 2 * UNITS], 1.0)
    np.testing.assert_array_equal(np.delete(bias, np.s_[UNITS : 2 * UNITS]), 0.0)


# --------------------------------------------------------- training and dropout


@pytest.mark.parametrize("config", CONFIGS)
def test_dropout_is_identity_at_inference_and_random_in_training(config, rng):
    ours, theirs = twin_layers(config, rng, dropout=0.5, recurrent_dropout=0.3, seed=1)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    np.testing.assert_allclose(ours(x, training=False), theirs(x, training=False), atol=1e-5)
    trained = ours(x, training=True).numpy()
    assert np.isfinite(trained).all()
    assert not np.allclose(trained, ours(x, training=False))


# ------------------------------------------------------- serialization and graphs


@pytest.mark.parametrize("config", CONFIGS)
def test_get_config_round_trip(config):
    zoo_class, _, extra = CONFIGS[config]
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
    zoo_class, _, extra = CONFIGS[config]
    inputs = keras.Input((time_steps, FEATURES))
    hidden = keras.layers.Masking()(inputs)
    hidden = keras.layers.Bidirectional(zoo_class(UNITS, return_sequences=True, **extra))(hidden)
    hidden = zoo_class(UNITS, **extra)(hidden)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden))


@pytest.mark.parametrize("config", CONFIGS)
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


def test_compiled_and_plain_loops_agree(rng):
    layer, _ = twin_layers("lstm", rng, return_sequences=True)
    x = tf.constant(rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32"))
    mask = tf.constant(masks()["right"])
    results = []
    for compiled in (True, False):
        with zoo.compiled_loops(compiled):
            results.append(outputs_and_gradients(layer, x, mask=mask))
    assert_all_close(results[0][0], results[1][0], atol=1e-6)
    assert_all_close(results[0][1], results[1][1], atol=1e-6)


@pytest.mark.parametrize("config", ["gru", "lstm"])
def test_saved_model_export_reloads_with_same_outputs(config, rng, tmp_path):
    model = small_model(config)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    with zoo.compiled_loops(False):
        model.export(tmp_path / "export", verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_allclose(reloaded.serve(x), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("config", CONFIGS)
def test_per_gate_matmuls_give_the_same_results(config, rng):
    """The forward step's per-gate matmuls (used from 192 units on) change nothing."""
    gates = 4 if config == "lstm" else 3
    inputs = tf.constant(rng.normal(size=(TIME, BATCH, FEATURES)).astype("float32"))
    weights = [
        tf.constant(0.5 * rng.normal(size=shape).astype("float32"))
        for shape in [(FEATURES, gates * UNITS), (gates * UNITS,), (UNITS, gates * UNITS),
                      (gates * UNITS,), (BATCH, UNITS), (BATCH, UNITS)]
    ]
    kernel, bias, recurrent_kernel, recurrent_bias, h0, c0 = weights
    mask = tf.constant(masks()["left_and_empty"].T[..., None].astype("float32"))
    results = []
    for per_gate in (False, True):
        with tf.GradientTape() as tape:
            tape.watch(weights + [inputs])
            if config == "lstm":
                outputs = fused.lstm_sequence(
                    inputs, kernel, bias, recurrent_kernel, h0, c0, mask, per_gate_matmuls=per_gate
                )
            else:
                outputs = fused.gru_sequence(
                    inputs, kernel, bias, recurrent_kernel, recurrent_bias, h0, mask,
                    reset_after=config == "gru", per_gate_matmuls=per_gate,
                )
            loss = sum(tf.reduce_sum(tf.sin(o)) for o in outputs)
        gradients = tape.gradient(loss, weights + [inputs], unconnected_gradients="zero")
        results.append([o.numpy() for o in outputs] + [g.numpy() for g in gradients])
    assert_all_close(results[1], results[0], atol=1e-6)


@pytest.mark.parametrize("config", CONFIGS)
def test_layer_with_per_gate_matmuls_equals_keras(config, rng):
    units = fused.PER_GATE_MATMULS_FROM_UNITS
    zoo_class, keras_class, extra = CONFIGS[config]
    ours = zoo_class(units, return_sequences=True, **extra)
    theirs = keras_class(units, return_sequences=True, use_cudnn=False, **extra)
    x = rng.normal(size=(2, 3, FEATURES)).astype("float32")
    ours.build(x.shape)
    theirs.build(x.shape)
    weights = [0.2 * rng.normal(size=w.shape).astype("float32") for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    ours_results, theirs_results = outputs_and_gradients(ours, x), outputs_and_gradients(theirs, x)
    assert_all_close(ours_results[0], theirs_results[0])
    assert_all_close(ours_results[1], theirs_results[1])


# ------------------------------------------------------------------ bad input


def test_wrong_input_rank_names_expected_rank():
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        zoo.GRU(UNITS)(np.zeros((BATCH, FEATURES), "float32"))


@pytest.mark.parametrize("config", CONFIGS)
def test_initial_state_of_wrong_shape_is_named(config):
    zoo_class, _, extra = CONFIGS[config]
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


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="Unknown `recurrent_activation`: 'sigmoidd'"):
        zoo.LSTM(UNITS, recurrent_activation="sigmoidd")


@pytest.mark.parametrize("argument, value, message", [
    ("units", 0, "`units` must be a positive integer, got 0"),
    ("dropout", 1.5, r"`dropout` must be in \[0, 1\), got 1.5"),
])
def test_invalid_arguments_are_named(argument, value, message):
    kwargs = {"units": UNITS, argument: value}
    with pytest.raises(ValueError, match=message):
        zoo.GRU(**kwargs)
