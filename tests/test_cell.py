"""The cells (zoo.layers.cell.RecurrentCell, as zoo.GRUCell and zoo.LSTMCell): one step
at a time, dropout, DropConnect on the recurrent kernel, argument checks."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import BATCH, FEATURES, LAYER_CONFIGS, TIME, UNITS, layer_classes, twin_layers


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


def weight_dropped_layer(config, weights, seed=7, **kwargs):
    zoo_class, _, extra = layer_classes(config)
    layer = zoo_class(UNITS, weight_dropout=0.5, seed=seed, return_sequences=True, **extra, **kwargs)
    layer.build((BATCH, TIME, FEATURES))
    layer.set_weights(weights)
    return layer


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_weight_dropout_runs_the_thinned_recurrent_kernel_in_training_only(config, rng):
    """Training: the layer equals the same layer without dropout whose U is U ⊙ M / (1 − p),
    M the batch's one mask (a twin of the same seed draws it first); the stepped loop (unroll)
    and the fused loop agree, gradients included, and dropped entries of U get no gradient.
    Inference: no dropout."""
    plain, _ = twin_layers(config, rng, return_sequences=True)
    weights = plain.get_weights()
    x = tf.constant(rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32"))
    fused, stepped = weight_dropped_layer(config, weights), weight_dropped_layer(config, weights, unroll=True)
    mask = weight_dropped_layer(config, weights).cell.get_weight_dropout_mask().numpy()
    assert set(np.unique(mask)) == {0.0, 2.0} and 0.3 < (mask == 0).mean() < 0.7
    thinned, _ = twin_layers(config, rng, return_sequences=True)
    thinned.set_weights([w * mask if w.shape == mask.shape else w for w in weights])

    def outputs_and_recurrent_gradient(layer, training):
        with tf.GradientTape() as tape:
            outputs = layer(x, training=training)
            loss = tf.reduce_sum(outputs ** 2)
        return outputs.numpy(), tape.gradient(loss, layer.cell.recurrent_kernel).numpy()

    fused_out, fused_grad = outputs_and_recurrent_gradient(fused, True)
    stepped_out, stepped_grad = outputs_and_recurrent_gradient(stepped, True)
    np.testing.assert_allclose(fused_out, thinned(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(stepped_out, fused_out, atol=1e-5)
    np.testing.assert_allclose(stepped_grad, fused_grad, atol=1e-4)
    assert (fused_grad[mask == 0] == 0).all() and (fused_grad[mask > 0] != 0).mean() > 0.9
    np.testing.assert_allclose(fused(x, training=False), plain(x), atol=1e-6)
    assert fused.weight_dropout == 0.5 and type(fused).from_config(fused.get_config()).weight_dropout == 0.5


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="Unknown `recurrent_activation`: 'sigmoidd'"):
        zoo.LSTM(UNITS, recurrent_activation="sigmoidd")


@pytest.mark.parametrize("argument, value, message", [
    ("units", 0, "`units` must be a positive integer, got 0"),
    ("dropout", 1.5, r"`dropout` must be in \[0, 1\), got 1.5"),
    ("weight_dropout", 1.0, r"`weight_dropout` must be in \[0, 1\), got 1.0"),
])
def test_invalid_arguments_are_named(argument, value, message):
    kwargs = {"units": UNITS, argument: value}
    with pytest.raises(ValueError, match=message):
        zoo.GRU(**kwargs)
