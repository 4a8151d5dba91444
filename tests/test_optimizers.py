"""zoo.optimizers: per-variable rate scales and start steps on Adam (ULMFiT's fine-tuning recipe)."""

import keras
import numpy as np
import pytest

from zoo.optimizers import LayerwiseAdam, fine_tuning_rates


def two_layer_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, name="lower")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="upper")(hidden))


def train_steps(optimizer, steps):
    """Each weight after `steps` steps of `optimizer` on a fixed batch, from the same start."""
    model = two_layer_model()
    model.compile(optimizer=optimizer, loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    start = {weight.path: weight.numpy() for weight in model.weights}
    for _ in range(steps):
        model.train_on_batch(x, y)
    return start, {weight.path: weight.numpy() for weight in model.weights}, model


def test_a_scaled_variable_moves_by_the_scale_times_adams_step():
    """Adam's step is linear in the rate: a scale s moves a variable as Adam at s times the rate does."""
    start, scaled, _ = train_steps(LayerwiseAdam(0.01, rate_scales={"lower/kernel": (0.25, 0)}), 1)
    _, plain, _ = train_steps(keras.optimizers.Adam(0.01), 1)
    _, quarter, _ = train_steps(keras.optimizers.Adam(0.0025), 1)
    np.testing.assert_allclose(scaled["lower/kernel"] - start["lower/kernel"],
                               quarter["lower/kernel"] - start["lower/kernel"], rtol=1e-5, atol=1e-9)
    for path in ("lower/bias", "upper/kernel", "upper/bias"):  # not listed: the plain rate
        np.testing.assert_allclose(scaled[path], plain[path], rtol=1e-6)


def test_a_held_variable_stays_until_its_start_step_and_its_moments_follow_its_gradient():
    optimizer = LayerwiseAdam(0.01, rate_scales={"lower/kernel": (1.0, 2)})
    start, after_two, model = train_steps(optimizer, 2)
    np.testing.assert_array_equal(after_two["lower/kernel"], start["lower/kernel"])
    assert not np.allclose(after_two["upper/kernel"], start["upper/kernel"])
    moments = optimizer._momentums[optimizer._get_variable_index(model.get_layer("lower").kernel)]
    assert np.abs(moments.numpy()).max() > 0
    _, after_three, _ = train_steps(LayerwiseAdam(0.01, rate_scales={"lower/kernel": (1.0, 2)}), 3)
    assert not np.allclose(after_three["lower/kernel"], start["lower/kernel"])


def test_fine_tuning_rates_lower_each_layer_below_the_one_above_and_unfreeze_top_first():
    model = two_layer_model()
    rates = fine_tuning_rates([model.get_layer("lower"), model.get_layer("upper")], factor=0.5, unfreeze_steps=10)
    assert rates == {"upper/kernel": (0.5, 10), "upper/bias": (0.5, 10),
                     "lower/kernel": (0.25, 20), "lower/bias": (0.25, 20)}


def test_the_optimizer_round_trips_through_its_config_and_a_keras_file(tmp_path):
    optimizer = LayerwiseAdam(0.01, rate_scales={"lower/kernel": (0.25, 3)}, clipnorm=1.0)
    copy = LayerwiseAdam.from_config(optimizer.get_config())
    assert copy.rate_scales == {"lower/kernel": (0.25, 3)} and copy.clipnorm == 1.0
    _, _, model = train_steps(optimizer, 1)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.optimizer, LayerwiseAdam)
    assert loaded.optimizer.rate_scales == {"lower/kernel": (0.25, 3)}


@pytest.mark.parametrize("scale, start", [(0.0, 0), (0.5, 0)])
def test_a_zero_scale_freezes_a_variable_for_good(scale, start):
    start_weights, after, _ = train_steps(LayerwiseAdam(0.01, rate_scales={"upper/bias": (scale, start)}), 2)
    assert np.array_equal(after["upper/bias"], start_weights["upper/bias"]) == (scale == 0.0)
