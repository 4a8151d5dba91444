"""Forecasting: M4 scoring and benchmarks, loaders and their errors, windows, model, export."""

import gzip
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import train
from tasks import forecasting
from tests.conftest import require_data
from zoo import m4
from zoo.task import get_task, task_config

TASK = get_task("forecasting")

# ------------------------------------------------------------- M4 scoring


def test_smape_and_mase_on_constructed_series():
    actual, forecast = np.array([100.0, 200.0]), np.array([110.0, 200.0])
    assert m4.smape(actual, forecast) == pytest.approx(0.5 * 200 * 10 / 210)
    assert m4.smape([0.0, 0.0], [0.0, 0.0]) == 0.0
    insample = np.array([1.0, 3.0, 2.0, 4.0, 3.0])  # seasonality 2: |2-1|, |4-3|, |3-2| → scale 1
    assert m4.mase(insample, [5.0, 5.0], [4.0, 7.0], seasonality=2) == pytest.approx(1.5)


def test_constant_series_has_undefined_mase_not_a_division_by_zero():
    scores = m4.score([np.ones(10), np.arange(10.0)], [np.ones(2), [10.0, 11.0]], [np.ones(2), [10.0, 12.0]], 1)
    assert scores["mase_undefined_series"] == 1
    assert scores["mase"] == pytest.approx(0.5)  # the second series only
    assert np.isfinite(scores["smape"])


def test_owa_of_naive2_is_one_and_halves_with_both_errors():
    naive2 = {"smape": 20.0, "mase": 2.0}
    assert m4.owa(naive2, naive2) == 1.0
    assert m4.owa({"smape": 10.0, "mase": 1.0}, naive2) == 0.5


def test_naive2_recovers_an_exact_multiplicative_season():
    pattern = np.array([1.0, 2.0, 0.5, 1.5])  # mean 1.25
    series = 10 * np.tile(pattern, 12)
    assert m4.is_seasonal(series, 4)
    np.testing.assert_allclose(m4.seasonal_indices(series, 4), pattern / pattern.mean())
    np.testing.assert_allclose(m4.naive2(series, 6, 4), 10 * np.resize(pattern, 6))
    np.testing.assert_allclose(m4.seasonal_naive(series, 6, 4), 10 * np.resize(pattern, 6))


def test_naive2_is_naive_without_seasonality():
    series = np.random.default_rng(0).standard_normal(100).cumsum() + 50
    assert not m4.is_seasonal(series, 24)
    np.testing.assert_allclose(m4.naive2(series, 5, 24), np.full(5, series[-1]))
    assert not m4.is_seasonal(np.ones(100), 24)  # constant: no division by zero


def read_official_forecasts(path, method):
    with gzip.open(path, "rt") as handle:
        rows = [line.strip().split(",") for line in handle][1:]
    return {row[1].strip('"'): np.array(row[2:], float) for row in rows if row[0].strip('"') == method}


def test_m4_hourly_benchmarks_reproduce_the_official_scores():
    folder = require_data("m4_hourly")
    series, _ = forecasting.load_m4(folder)
    assert (len(series.names), series.horizon, series.seasonality) == (414, 48, 24)
    official = {"Naive2": (18.383, 2.395), "sNaive": (13.912, 1.193), "Naive": (43.003, 11.608)}
    for method, (smape, mase) in official.items():
        forecasts = m4.benchmark_forecasts(method, series.insamples, 48, 24)
        scores = m4.score(series.insamples, series.actuals, forecasts, 24)
        assert (round(scores["smape"], 3), round(scores["mase"], 3)) == (smape, mase), method
    naive2 = read_official_forecasts(folder / "hourly_point_forecasts.csv.gz", "Naive2")
    ours = m4.benchmark_forecasts("Naive2", series.insamples, 48, 24)
    np.testing.assert_allclose(ours, np.stack([naive2[name] for name in series.names]), atol=1e-3)


# ----------------------------------------------------------------- loaders


def write(path, text):
    path.write_text(text)
    return path


def test_wide_csv_with_header_and_right_padding(tmp_path):
    path = write(tmp_path / "train.csv", '"V1","V2","V3","V4"\n"A","1","2","3"\n"B","4","5",""\n')
    series = forecasting.read_wide(path)
    assert list(series) == ["A", "B"]
    np.testing.assert_array_equal(series["B"][0], [4.0, 5.0])


def test_long_csv_is_sorted_by_time(tmp_path):
    path = write(
        tmp_path / "series.csv",
        "id,timestamp,value\nA,2024-01-02,2\nA,2024-01-01,1\nB,3,30\nA,2024-01-03,3\nB,1,10\n",
    )
    config = task_config(TASK)
    series = forecasting.read_series_file(path, config)
    np.testing.assert_array_equal(series["A"][0], [1, 2, 3])
    np.testing.assert_array_equal(series["B"][0], [10, 30])


@pytest.mark.parametrize(
    "text, message",
    [
        ("A,1,x,3\n", "line 1, column 3: 'x' is not a number"),
        ("A,1,2\nB,1,nan\n", "line 2, column 3: 'nan' is not a finite number"),
        ("A,1,inf,3\n", "line 1, column 3: 'inf' is not a finite number"),
        ("A,1,,3\n", "line 1, column 3: series 'A' has an empty value between values"),
        ("A,1,2\nA,3,4\n", "line 2: series 'A' appears twice"),
        ("A,,\n", "line 1: series 'A' has no values"),
        ("", "empty file"),
    ],
)
def test_bad_wide_files_name_file_line_and_column(tmp_path, text, message):
    path = write(tmp_path / "train.csv", text)
    with pytest.raises(ValueError, match=message) as error:
        forecasting.read_wide(path)
    assert str(path) in str(error.value)


def test_short_series_and_missing_test_rows_are_named(tmp_path):
    train = {"A": (np.arange(10.0), 2), "B": (np.arange(3.0), 3)}
    with pytest.raises(ValueError, match=r"train.csv, line 3: series 'B' has 1 in-sample value\(s\) before its 2-step test"):
        forecasting.split_series(train, None, 2, 1, tmp_path / "train.csv")
    with pytest.raises(ValueError, match="test.csv: no row for series 'B'"):
        forecasting.split_series(train, {"A": (np.ones(2), 2)}, 2, 1, "train.csv", "test.csv")


def test_csv_folder_without_test_file_holds_out_the_last_horizon(tmp_path):
    write(tmp_path / "train.csv", "A," + ",".join(str(v) for v in range(30)) + "\n")
    config = task_config(TASK, data="csv", data_dir=str(tmp_path), horizon=5, seasonality=1)
    series, _ = forecasting.load_csv(config)
    np.testing.assert_array_equal(series.actuals, [[25, 26, 27, 28, 29]])
    assert len(series.insamples[0]) == 25


def test_synthetic_series_are_deterministic_positive_and_long_enough():
    config = task_config(TASK, synthetic_series=6)
    first, _ = forecasting.load_synthetic(config)
    second, _ = forecasting.load_synthetic(config)
    for a, b in zip(first.insamples, second.insamples):
        np.testing.assert_array_equal(a, b)
    assert all(len(v) > 3 * 48 and np.all(v > 0) for v in first.insamples)
    assert first.actuals.shape == (6, 48) and np.all(np.isfinite(first.actuals))


# ----------------------------------------------------------------- windows


def counting_series(lengths, horizon, seasonality=2):
    """Series whose values encode (series, time): 1000 * (series + 1) + t."""
    insamples = [1000.0 * (i + 1) + np.arange(n) for i, n in enumerate(lengths)]
    actuals = np.stack([1000.0 * (i + 1) + n + np.arange(horizon) for i, n in enumerate(lengths)])
    return forecasting.SeriesSet([str(i) for i in range(len(lengths))], insamples, actuals, horizon, seasonality)


def test_training_windows_are_contiguous_slices_before_the_validation_part():
    series = counting_series([30, 12, 6], horizon=3)  # the third is too short to train on
    dataset = forecasting.training_windows(series, window=8, batch_size=16, steps=20, seed=1)
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
        forecasting.training_windows(counting_series([5, 6], horizon=3), 8, 4, 2, 0)


def test_fit_history_handles_right_padding_short_and_long_histories():
    nan = np.nan
    batch = tf.constant([[1, 2, 3, nan, nan], [1, 2, 3, 4, 5], [nan, nan, 7, 8, nan]], tf.float32)
    fitted = forecasting.fit_history(batch, 4).numpy()
    np.testing.assert_array_equal(np.nan_to_num(fitted, nan=-1), [[-1, 1, 2, 3], [2, 3, 4, 5], [-1, -1, 7, 8]])
    assert forecasting.fit_history(batch, 7).shape == (3, 7)
    with pytest.raises(tf.errors.InvalidArgumentError, match="history contains inf values"):
        forecasting.fit_history(tf.constant([[1.0, np.inf]]), 4)


# ------------------------------------------------------------------- model

TINY = dict(
    data="synthetic", synthetic_series=6, units=4, num_layers=1, epochs=1, steps_per_epoch=2,
    batch_size=8, horizon=6, seasonality=4, input_window=12,
)


@pytest.fixture(scope="module")
def tiny():
    config = task_config(TASK, **TINY)
    data = TASK.build_inputs(config)
    model = TASK.build_model(config, data)
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


def test_evaluate_reports_m4_scores_beside_the_benchmarks(tiny):
    config, data, model, _ = tiny
    metrics = TASK.evaluate(model, data, config)
    assert metrics["naive2_owa"] == 1.0
    assert metrics["test_series"] == 6
    for key in ("smape", "mase", "owa", "snaive_smape", "naive_mase"):
        assert np.isfinite(metrics[key]), key


def test_serving_signature_takes_raw_ragged_histories(tiny):
    config, data, model, _ = tiny
    serve, [spec] = TASK.serving_signatures(model, data, config)["serving_default"]
    assert spec.shape.as_list() == [None, None] and spec.name == "history"
    histories = data.reference.insamples
    ragged = np.full((2, 20), np.nan, "float32")
    ragged[0, :20], ragged[1, :5] = histories[0][-20:], histories[1][-5:]
    outputs = serve(tf.constant(ragged))
    expected = model.predict(forecasting.last_values([histories[0], histories[1][-5:]], 12), verbose=0)
    np.testing.assert_allclose(outputs["forecast"].numpy(), expected, rtol=1e-5)
    examples = TASK.serving_examples(data, config)
    assert examples["history"].shape == (2, 12)


def test_quantile_model_has_ordered_outputs_and_pinball_loss():
    config = task_config(TASK, **TINY, quantiles="0.9,0.1,0.5")
    data = TASK.build_inputs(config)
    model = TASK.build_model(config, data)
    assert model.output_shape == (None, 6, 3)
    loss = forecasting.PinballLoss([0.1, 0.5, 0.9])
    y_true = np.zeros((1, 2), "float32")
    y_pred = np.array([[[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]], "float32")
    assert float(loss(y_true, y_pred)) == pytest.approx((0.1 * 1 + 0 + 0.1 * 1) / 3)  # q (y - f) for q=0.1, (q - 1)(y - f) for q=0.9
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
    histories = forecasting.last_values(data.reference.insamples, 12)
    np.testing.assert_allclose(loaded.predict(histories, verbose=0), model.predict(histories, verbose=0), rtol=1e-6)


# ------------------------------------------------------------- train.py


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


def test_seasonal_naive_residual_starts_from_the_seasonal_naive_forecast():
    config = task_config(TASK, **{**TINY, "seasonal_naive_residual": True})
    model = TASK.build_model(config)
    head = model.get_layer("head")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    histories = np.random.default_rng(0).uniform(1, 9, (3, 12)).astype("float32")
    expected = np.stack([m4.seasonal_naive(h, 6, 4) for h in histories])
    np.testing.assert_allclose(model.predict(histories, verbose=0), expected, rtol=1e-6)


def test_series_given_in_memory_are_checked_for_non_finite_values():
    with pytest.raises(ValueError, match="mine, line 4: series 'A' has NaN or inf values"):
        forecasting.split_series({"A": (np.array([1.0, np.nan, 2.0, 3.0]), 4)}, None, 1, 1, "mine")


def test_the_registry_at_package_level():
    import zoo

    assert zoo.list_tasks() == ["ctc_speech", "forecasting", "sentiment"]
    assert zoo.list_tasks("fore*") == ["forecasting"]
    model = zoo.create_model("forecasting", cell="lstm", units=4, num_layers=1)
    assert model.input_shape == (None, 14 * 24) and model.output_shape == (None, 48)


def test_smape_loss_is_m4_smape_unweighted_and_refuses_quantiles():
    rng = np.random.default_rng(0)
    actual = rng.uniform(0, 10, (3, 6)).astype("float32")
    forecast = rng.uniform(0, 10, (3, 6)).astype("float32")
    actual[0, :2] = forecast[0, :2] = 0.0  # both zero: the term is 0, as M4 counts it
    loss = forecasting.SMAPELoss()
    assert float(loss(actual, forecast)) == pytest.approx(m4.smape(actual, forecast).mean() / 100, rel=1e-5)

    config = task_config(TASK, **TINY, loss="smape")
    data = TASK.build_inputs(config)
    _, _, weights = next(iter(data.train))
    np.testing.assert_array_equal(weights.numpy(), 1.0)  # sMAPE is scale-free: no 1 / level weight
    model = TASK.build_model(config, data)
    model.compile(optimizer="adam", loss=TASK.build_losses(config))
    history = model.fit(data.train, validation_data=data.validation, epochs=1, verbose=0)
    assert 0 < history.history["loss"][0] <= 2 and np.isfinite(history.history["val_loss"][0])
    with pytest.raises(ValueError, match="--loss smape forecasts a point"):
        TASK.build_inputs(task_config(TASK, **TINY, loss="smape", quantiles="0.1,0.5,0.9"))
