"""zoo.LSTM against an independent NumPy reference, and the variants of Greff et al. 2016
against a NumPy implementation of their equations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import BATCH, FEATURES, TIME, UNITS, sigmoid, twin_layers
from zoo.builders import GREFF_CELLS
from zoo.layers.lstm import GREFF_VARIANTS

VARIANT_UNITS = 2  # the variants' tests use fewer units than the layer's


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


@pytest.mark.parametrize("unroll", [False, True])
def test_layer_equals_numpy_equations(unroll, rng):
    ours, _ = twin_layers("lstm", rng, return_sequences=True, unroll=unroll)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    weights = [w.astype("float64") for w in ours.get_weights()]
    expected = numpy_lstm(x, *weights)
    np.testing.assert_allclose(ours(x), expected, atol=1e-5)


def test_unit_forget_bias_starts_forget_gate_at_one():
    layer = zoo.LSTM(UNITS)
    layer.build((None, TIME, FEATURES))
    bias = layer.get_weights()[2]
    np.testing.assert_array_equal(bias[UNITS : 2 * UNITS], 1.0)
    np.testing.assert_array_equal(np.delete(bias, np.s_[UNITS : 2 * UNITS]), 0.0)


# ---------------------------------------------------- Greff et al.'s variants


def numpy_greff_lstm(x, weights, options):
    """Greff et al.'s equations (their eqs. 1-6 with each variant's change), step by step.

    `weights` has per-gate matrices `W[g] (D, U)`, `U[g] (U, U)`, `b[g] (U,)`, peepholes
    `p[g] (U,)` and, for FGR, `R[(source, target)] (U, U)` from each gate's previous
    activation to each gate, for g in i, f, c (block input), o.
    """
    option = {**zoo.layers.lstm.VARIANT_OPTIONS, **options}
    W, U, b, p, R = (weights[k] for k in ("W", "U", "b", "p", "R"))
    gates = [g for g in ("i", "f", "o") if g in W]
    h = c = np.zeros((x.shape[0], VARIANT_UNITS))
    previous = {g: np.zeros_like(h) for g in gates}
    outputs = []
    for x_t in x.transpose(1, 0, 2):
        def pre(g, peephole_state):
            a = x_t @ W[g] + h @ U[g] + b[g]
            if option["peepholes"]:
                a = a + p[g] * peephole_state
            if option["full_gate_recurrence"]:
                a = a + sum(previous[s] @ R[(s, g)] for s in gates)
            return a

        i = sigmoid(pre("i", c)) if option["input_gate"] else 1.0
        if option["coupled_input_forget"]:
            f = 1.0 - i
        else:
            f = sigmoid(pre("f", c)) if option["forget_gate"] else 1.0
        z = x_t @ W["c"] + h @ U["c"] + b["c"]
        z = np.tanh(z) if option["input_activation"] else z
        c = f * c + i * z
        o = sigmoid(pre("o", c)) if option["output_gate"] else 1.0
        h = o * (np.tanh(c) if option["output_activation"] else c)
        previous = {"i": i, "f": f, "o": o}
        outputs.append(h)
    return np.stack(outputs, axis=1), c


def random_variant_layer(options, rng, **kwargs):
    """A built zoo LSTM with the variant's options and random weights, and the weights by gate."""
    layer = zoo.LSTM(VARIANT_UNITS, **options, **kwargs)
    layer.build((BATCH, TIME, FEATURES))
    values = {w.path.split("/")[-1]: 0.5 * rng.normal(size=w.shape) for w in layer.weights}
    layer.set_weights([values[w.path.split("/")[-1]].astype("float32") for w in layer.weights])
    cell = layer.cell
    split = lambda array: dict(zip(cell.blocks, np.split(array, cell.num_gates, axis=-1)))  # noqa: E731
    weights = {
        "W": split(values["kernel"]),
        "U": split(values["recurrent_kernel"]),
        "b": split(values["bias"]),
        "p": {g: values[f"peephole_{g}"] for g in cell.gates if f"peephole_{g}" in values},
        "R": {},
    }
    if "gate_recurrent_kernel" in values:
        blocks = np.split(values["gate_recurrent_kernel"], len(cell.gates), axis=0)
        for source, rows in zip(cell.gates, blocks):
            for target, block in zip(cell.gates, np.split(rows, len(cell.gates), axis=1)):
                weights["R"][(source, target)] = block
    return layer, weights


@pytest.mark.parametrize("variant", GREFF_VARIANTS)
def test_variant_equals_numpy_equations(variant, rng):
    options = GREFF_VARIANTS[variant]
    layer, weights = random_variant_layer(options, rng, return_sequences=True, return_state=True)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    outputs, h_last, c_last, *gate_state = layer(x)  # FGR: + previous gates
    expected, expected_c = numpy_greff_lstm(x, weights, options)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    np.testing.assert_allclose(h_last, expected[:, -1], atol=1e-5)
    np.testing.assert_allclose(c_last, expected_c, atol=1e-5)


@pytest.mark.parametrize("variant, blocks, extra_weights", [
    ("V", 4, 3), ("NIG", 3, 2), ("NFG", 3, 2), ("NOG", 3, 2), ("NIAF", 4, 3),
    ("NOAF", 4, 3), ("NP", 4, 0), ("CIFG", 3, 2), ("FGR", 4, 3 + 9),
])
def test_variant_parameter_counts(variant, blocks, extra_weights):
    """Removed gates have no weights; peepholes add U per gate, FGR 9 U x U blocks."""
    layer = zoo.LSTM(VARIANT_UNITS, **GREFF_VARIANTS[variant])
    layer.build((BATCH, TIME, FEATURES))
    per_block = FEATURES * VARIANT_UNITS + VARIANT_UNITS * VARIANT_UNITS + VARIANT_UNITS
    extra = extra_weights * VARIANT_UNITS if variant != "FGR" else 3 * VARIANT_UNITS + 9 * VARIANT_UNITS * VARIANT_UNITS
    assert layer.count_params() == blocks * per_block + extra


def test_default_lstm_is_unchanged_and_takes_the_fused_path(monkeypatch):
    layer = zoo.LSTM(VARIANT_UNITS)
    layer.build((BATCH, TIME, FEATURES))
    assert [w.path.split("/")[-1] for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert layer.cell.is_standard and layer._fused_path_applies(training=True)
    for options in GREFF_CELLS.values():
        assert not zoo.LSTM(VARIANT_UNITS, **options)._fused_path_applies(training=False)


@pytest.mark.parametrize("variant", ["CIFG", "FGR"])
def test_variant_masks_gradients_and_cell_steps(variant, rng):
    """Masked steps keep the states; gradients are finite; the cell steps like the layer."""
    layer, _ = random_variant_layer(GREFF_VARIANTS[variant], rng, return_sequences=True)
    x = tf.constant(rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32"))
    mask = np.ones((BATCH, TIME), bool)
    mask[1, 3:] = False
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, mask=mask)
        loss = tf.reduce_sum(tf.sin(outputs))
    gradients = tape.gradient(loss, [x] + layer.trainable_weights)
    assert all(np.isfinite(g.numpy()).all() for g in gradients)
    np.testing.assert_array_equal(outputs[1, 3:], np.repeat(outputs[1, 2:3], 2, axis=0))
    states = layer.cell.get_initial_state(BATCH)
    for t in range(TIME):
        h, states = layer.cell(x[:, t], states)
        if t < 3:
            np.testing.assert_allclose(h[1], outputs[1, t], atol=1e-6)
    np.testing.assert_allclose(h[0], outputs[0, -1], atol=1e-6)


def test_variant_keras_file_round_trip(rng, tmp_path):
    inputs = keras.Input((None, FEATURES))
    hidden = keras.layers.Bidirectional(zoo.LSTM(VARIANT_UNITS, full_gate_recurrence=True, return_sequences=True))(inputs)
    hidden = zoo.LSTM(VARIANT_UNITS, coupled_input_forget=True, peepholes=True)(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_invalid_variant_options_are_named():
    with pytest.raises(ValueError, match="`coupled_input_forget=True` computes f = 1 - i"):
        zoo.LSTM(VARIANT_UNITS, coupled_input_forget=True, input_gate=False)
    with pytest.raises(ValueError, match="`peepholes` must be True or False, got 'yes'"):
        zoo.LSTM(VARIANT_UNITS, peepholes="yes")
