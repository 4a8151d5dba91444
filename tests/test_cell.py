"""The cells (zoo.layers.cell.RecurrentCell, as zoo.GRUCell and zoo.LSTMCell): one step
at a time, dropout, argument checks."""

import numpy as np
import pytest

import zoo
from tests.conftest import BATCH, FEATURES, LAYER_CONFIGS, TIME, UNITS, twin_layers


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_cell_one_step_at_a_time_equals_layer(config, rng):
    ours, _ = twin_layers(config, rng, return_sequences=True)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    states = ours.cell.get_initial_state(BATCH)
    steps = []
    for t in range(TIME):
        output, states = ours.cell(x[:, t], states)
        steps.append(output)
    np.testing.assert_allclose(np.stack(steps, axis=1), ours(x), atol=1e-6)


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_dropout_is_identity_at_inference_and_random_in_training(config, rng):
    ours, theirs = twin_layers(config, rng, dropout=0.5, recurrent_dropout=0.3, seed=1)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    np.testing.assert_allclose(ours(x, training=False), theirs(x, training=False), atol=1e-5)
    trained = ours(x, training=True).numpy()
    assert np.isfinite(trained).all()
    assert not np.allclose(trained, ours(x, training=False))


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
