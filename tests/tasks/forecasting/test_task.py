"""The forecasting task: data sources, model, loss, evaluation, export signature, train.py."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import train
import zoo
from tasks.forecasting import data as series_data
from tasks.forecasting import m4
from tasks.forecasting import task as forecasting
from tasks.forecasting.layers import PinballLoss, last_values
from zoo.task import get_task, resolve_config

TASK = get_task("forecasting")

# -------------------------------------------------------------------- data


def write(path, text):
    path.write_text(text)
    return path


def test_csv_folder_without_test_file_holds_out_the_last_horizon(tmp_path):
    write(tmp_path / "train.csv", "A," + ",".join(str(v) for v in range(30)) + "\n")
    config = resolve_config(TASK, data="csv", data_dir=str(tmp_path), horizon=5, seasonality=1)
    series, _ = series_data.load_csv(config)
    np.testing.assert_array_equal(series.actuals, [[25, 26, 27, 28, 29]])
    assert len(series.insamples[0]) == 25


def test_long_csv_file_is_read_with_the_default_columns(tmp_path):
    rows = "".join(f"{name},{t},{value * (t + 1)}\n" for name, value in (("A", 1), ("B", 10)) for t in range(8))
    path = write(tmp_path / "series.csv", "id,timestamp,value\n" + rows)
    config = resolve_config(TASK, data="csv", data_dir=str(path), horizon=2, seasonality=1)
    series, description = series_data.load_csv(config)
    assert series.names == ["A", "B"] and description == f"CSV {path}"
    np.testing.assert_array_equal(series.actuals, [[7, 8], [70, 80]])


def test_synthetic_series_are_deterministic_positive_and_long_enough():
    config = resolve_config(TASK, synthetic_series=6)
    first, _ = series_data.load_synthetic(config)
    second, _ = series_data.load_synthetic(config)
    for a, b in zip(first.insamples, second.insamples):
        np.testing.assert_array_equal(a, b)
    assert all(len(v) > 3 * 48 and np.all(v > 0) for v in first.insamples)
    assert first.actuals.shape == (6, 48) and np.all(np.isfinite(first.actuals))


# ------------------------------------------------------------------- model

TINY = dict(
    data="synthetic", synthetic_series=6, units=4, num_layers=1, epochs=1, steps_per_epoch=2,
    batch_size=8, horizon=6, seasonality=4, input_window=12,
)


def build(**overrides):
    """(resolved config, data, uncompiled model) of the tiny task with `overrides`."""
    config = resolve_config(TASK, **TINY, **overrides)
    data = TASK.build_inputs(config)
    config = TASK.resolve(config, data)
    return config, data, TASK.build_model(config, data)


@pytest.fixture(scope="module")
def tiny():
    config, data, model = build()
    model.compile(optimizer="adam", loss=TASK.build_losses(config))
    history = model.fit(data.train, validation_data=data.validation, epochs=1, verbose=0)
    return config, data, model, history


def test_tiny_model_trains_with_finite_loss_and_is_scale_equivariant(tiny):
    config, data, model, history = tiny
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(history.history["val_loss"][0])
    window = data.reference.insamples[0][-12:].astype("float32")[None]
    forecast = model.predict(window, verbose=0)
    assert forecast.shape == (1, 6)
    np.testing.assert_allclose(model.predict(1000 * window, verbose=0), 1000 * forecast, rtol=1e-5)
    zeros = model.predict(np.zeros((1, 12), "float32"), verbose=0)
    assert np.all(np.isfinite(zeros))


def test_seasonal_naive_residual_starts_from_the_seasonal_naive_forecast():
    config = resolve_config(TASK, **{**TINY, "seasonal_naive_residual": True})
    model = TASK.build_model(TASK.resolve(config))
    head = model.get_layer("head")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    histories = np.random.default_rng(0).uniform(1, 9, (3, 12)).astype("float32")
    expected = np.stack([m4.seasonal_naive(h, 6, 4) for h in histories])
    np.testing.assert_allclose(model.predict(histories, verbose=0), expected, rtol=1e-6)


def test_quantile_model_has_ordered_outputs_and_pinball_loss():
    config, data, model = build(quantiles="0.9,0.1,0.5")
    assert model.output_shape == (None, 6, 3)
    loss = TASK.build_losses(config)
    assert isinstance(loss, PinballLoss) and loss.quantiles == [0.1, 0.5, 0.9]
    serve, _ = TASK.serving_signatures(model, data, config)["serving_default"]
    outputs = serve(tf.constant(TASK.serving_examples(data, config)["history"]))
    assert outputs["quantiles"].shape == (2, 6, 3) and outputs["forecast"].shape == (2, 6)


def test_bad_quantiles_are_rejected():
    with pytest.raises(ValueError, match="0.5 must be one"):
        forecasting.parse_quantiles("0.1,0.9")
    with pytest.raises(ValueError, match="expected numbers"):
        forecasting.parse_quantiles("low,high")


def test_keras_file_round_trip(tiny, tmp_path):
    _, data, model, _ = tiny
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    histories = last_values(data.reference.insamples, 12)
    np.testing.assert_allclose(loaded.predict(histories, verbose=0), model.predict(histories, verbose=0), rtol=1e-6)


def test_create_model_builds_the_default_forecaster():
    model = zoo.create_model("forecasting", cell="lstm", units=4, num_layers=1)
    assert model.input_shape == (None, 14 * 24) and model.output_shape == (None, 48)


# -------------------------------------------------------------------- loss


def test_smape_loss_is_unweighted_and_refuses_quantiles():
    config, data, model = build(loss="smape")
    _, _, weights = next(iter(data.train))
    np.testing.assert_array_equal(weights.numpy(), 1.0)  # sMAPE is scale-free: no 1 / level weight
    model.compile(optimizer="adam", loss=TASK.build_losses(config))
    history = model.fit(data.train, validation_data=data.validation, epochs=1, verbose=0)
    assert 0 < history.history["loss"][0] <= 2 and np.isfinite(history.history["val_loss"][0])
    with pytest.raises(ValueError, match="--loss smape forecasts a point"):
        TASK.build_inputs(resolve_config(TASK, **TINY, loss="smape", quantiles="0.1,0.5,0.9"))


# -------------------------------------------------------------- evaluation


def test_evaluate_reports_m4_scores_beside_the_benchmarks(tiny):
    config, data, model, _ = tiny
    metrics = TASK.evaluate(model, data, config)
    assert metrics["naive2_owa"] == 1.0
    assert metrics["test_series"] == 6
    for key in ("smape", "mase", "owa", "snaive_smape", "naive_mase"):
        assert np.isfinite(metrics[key]), key


# ------------------------------------------------------------------ export


def test_serving_signature_takes_raw_ragged_histories(tiny):
    config, data, model, _ = tiny
    serve, [spec] = TASK.serving_signatures(model, data, config)["serving_default"]
    assert spec.shape.as_list() == [None, None] and spec.name == "history"
    histories = data.reference.insamples
    ragged = np.full((2, 20), np.nan, "float32")
    ragged[0, :20], ragged[1, :5] = histories[0][-20:], histories[1][-5:]
    outputs = serve(tf.constant(ragged))
    expected = model.predict(last_values([histories[0], histories[1][-5:]], 12), verbose=0)
    np.testing.assert_allclose(outputs["forecast"].numpy(), expected, rtol=1e-5)
    examples = TASK.serving_examples(data, config)
    assert examples["history"].shape == (2, 12)


def test_train_py_writes_m4_metrics_and_a_serving_export(tmp_path):
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in TINY.items()]
    train.main(["--task", "forecasting", "--cell", "lstm", *flags, "--quiet",
                "--output-dir", str(tmp_path / "runs"), "--export-dir", str(tmp_path / "saved_models")])
    [run] = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"smape", "mase", "owa", "naive2_owa", "snaive_owa"} <= set(metrics)
    export = tmp_path / "saved_models" / "forecasting-lstm" / "1"
    serving = tf.saved_model.load(str(export)).signatures["serving_default"]
    history = np.linspace(1, 2, 30, dtype="float32")[None]
    forecast = serving(history=tf.constant(history))["forecast"].numpy()
    expected = keras.saving.load_model(run / "model.keras").predict(history[:, -12:], verbose=0)
    np.testing.assert_allclose(forecast, expected, rtol=1e-5)
