"""tasks.forecasting.layers: scaling, the forecasting layers and losses, training windows, serving input."""

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks.forecasting import layers as forecast
from tasks.forecasting import m4
from tasks.forecasting.data import SeriesSet
from tests.conftest import REPO

# ----------------------------------------------------------------- scaling


def test_season_level_falls_back_to_the_window_then_to_one():
    nan = np.nan
    history = np.array([[nan, nan, 2, -4], [1, 3, nan, nan], [0, 0, 0, 0]], "float32")
    level = forecast.season_level(history, 2)
    np.testing.assert_allclose(np.asarray(level), [[3.0], [2.0], [1.0]])


def test_loss_weights_divide_by_level_or_seasonal_difference():
    history = tf.constant([[1.0, 2.0, 3.0, 5.0]])  # level over m=2: 4; |3-1|, |5-2| → 2.5
    np.testing.assert_allclose(forecast.loss_weights(history, 2, "level").numpy(), [0.25])
    np.testing.assert_allclose(forecast.loss_weights(history, 2, "seasonal_difference").numpy(), [0.4])
    np.testing.assert_array_equal(forecast.loss_weights(history, 2, None).numpy(), [1.0])
    with pytest.raises(ValueError, match=r"loss_scale 'mad': choose one of \('level', 'seasonal_difference'\)"):
        forecast.loss_weights(history, 2, "mad")


# ------------------------------------------------------- layers and losses


@pytest.mark.parametrize(
    "layer",
    [
        forecast.SeasonLevel(24, name="level"),
        forecast.ScaledChunks(6, name="chunks"),
        forecast.Rescale(48, 24, 3, True, name="forecast"),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layers_round_trip_through_get_config(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


def test_pinball_loss_on_a_constructed_case():
    loss = forecast.PinballLoss([0.1, 0.5, 0.9])
    y_true = np.zeros((1, 2), "float32")
    y_pred = np.array([[[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]], "float32")
    assert float(loss(y_true, y_pred)) == pytest.approx((0.1 * 1 + 0 + 0.1 * 1) / 3)  # q (y - f) for q=0.1, (q - 1)(y - f) for q=0.9


def test_smape_loss_is_m4_smape():
    rng = np.random.default_rng(0)
    actual = rng.uniform(0, 10, (3, 6)).astype("float32")
    prediction = rng.uniform(0, 10, (3, 6)).astype("float32")
    actual[0, :2] = prediction[0, :2] = 0.0  # both zero: the term is 0, as M4 counts it
    loss = forecast.SMAPELoss()
    assert float(loss(actual, prediction)) == pytest.approx(m4.smape(actual, prediction).mean() / 100, rel=1e-5)


def test_a_saved_model_loads_with_zoo_load_alone(tmp_path):
    """zoo.load finds the forecasting layers through the task registry (entry points), with no import of them."""
    history = keras.Input(shape=(8,), name="history")
    level = forecast.SeasonLevel(4, name="level")(history)
    steps = forecast.ScaledChunks(4, name="chunks")(history, level)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(steps))
    model = keras.Model(history, forecast.Rescale(3, 4, 0, True, name="forecast")(outputs, history, level))
    model.compile(loss=forecast.PinballLoss([0.5]))
    model.save(tmp_path / "model.keras")
    histories = np.arange(1.0, 17.0, dtype="float32").reshape(2, 8)
    np.save(tmp_path / "expected.npy", model.predict(histories, verbose=0))
    check = (
        "import numpy as np, zoo; "
        f"model = zoo.load({str(tmp_path / 'model.keras')!r}); "
        f"np.testing.assert_allclose(model.predict(np.arange(1.0, 17.0, dtype='float32').reshape(2, 8), verbose=0), "
        f"np.load({str(tmp_path / 'expected.npy')!r}), rtol=1e-6)"
    )
    subprocess.run([sys.executable, "-c", check], cwd=REPO, check=True)


# ----------------------------------------------------------------- windows


def counting_series(lengths, horizon, seasonality=2):
    """Series whose values encode (series, time): 1000 * (series + 1) + t."""
    insamples = [1000.0 * (i + 1) + np.arange(n) for i, n in enumerate(lengths)]
    actuals = np.stack([1000.0 * (i + 1) + n + np.arange(horizon) for i, n in enumerate(lengths)])
    return SeriesSet([str(i) for i in range(len(lengths))], insamples, actuals, horizon, seasonality)


def test_training_windows_are_contiguous_slices_before_the_validation_part():
    series = counting_series([30, 12, 6], horizon=3)  # the third is too short to train on
    dataset = forecast.training_windows(series, window=8, batch_size=16, steps=20, seed=1)
    batches = list(dataset)
    assert len(batches) == 20
    for history, future, weight in batches:
        history, future = history.numpy(), future.numpy()
        assert history.shape == (16, 8) and future.shape == (16, 3)
        assert np.all(weight.numpy() > 0)
        for past, ahead in zip(history, future):
            assert np.all(np.diff(ahead) == 1)
            observed = past[~np.isnan(past)]
            assert len(observed) >= 1 and np.all(np.isnan(past[: 8 - len(observed)]))
            np.testing.assert_array_equal(np.r_[observed, ahead], observed[0] + np.arange(len(observed) + 3))
            series_index, time = divmod(ahead[-1], 1000)
            assert time < [30, 12][int(series_index) - 1] - 3  # never the validation values
    next_epoch = next(iter(dataset))[1].numpy()
    assert not np.array_equal(next_epoch, batches[0][1].numpy())  # each epoch draws new windows


def test_no_series_long_enough_to_train_is_a_clear_error():
    with pytest.raises(ValueError, match="no series is long enough to train on: each needs more than 7"):
        forecast.training_windows(counting_series([5, 6], horizon=3), 8, 4, 2, 0)


def test_last_values_keep_the_end_and_pad_on_the_left():
    fitted = forecast.last_values([np.arange(6.0), np.array([7.0])], 4)
    np.testing.assert_array_equal(np.nan_to_num(fitted, nan=-1), [[2, 3, 4, 5], [-1, -1, -1, 7]])
    assert fitted.dtype == np.float32


# ----------------------------------------------------------------- serving


def test_fit_history_handles_right_padding_short_and_long_histories():
    nan = np.nan
    batch = tf.constant([[1, 2, 3, nan, nan], [1, 2, 3, 4, 5], [nan, nan, 7, 8, nan]], tf.float32)
    fitted = forecast.fit_history(batch, 4).numpy()
    np.testing.assert_array_equal(np.nan_to_num(fitted, nan=-1), [[-1, 1, 2, 3], [2, 3, 4, 5], [-1, -1, 7, 8]])
    assert forecast.fit_history(batch, 7).shape == (3, 7)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Input .history. row 1 holds an infinite value"):
        forecast.fit_history(tf.constant([[1.0, 2.0], [1.0, np.inf]]), 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Input .history. row 0 has no value"):
        forecast.fit_history(tf.constant([[nan, nan], [1.0, 2.0]]), 4)
