"""Forecasting: one global GRU/LSTM model for many series; raw history in, H steps out.

Data (`--data`):
  m4         M4 competition files in `--data-dir` (`<Frequency>-train.csv[.gz]` and
             `-test`); horizon and seasonality are the competition's (Hourly: 48, 24).
  csv        `--data-dir` a CSV/TSV file, or a folder with `train.*` (and optionally
             `test.*`): wide (one series per row: id, values...) or long (columns
             `--id-column`, `--time-column`, `--value-column`). Without a test file
             the last `--horizon` values of each series are the test.
  synthetic  offline default from a seed: Mackey-Glass (tau=17) series and noisy
             daily+weekly seasonal series with trend.
Default: M4 when `--data-dir` holds M4 files, else synthetic.

Split: each series' last H in-sample values are its validation target; training
windows end before them; the test forecast starts from the whole in-sample series.

Model: the history window (`input_window` values, NaN = missing) is divided by its
level (mean |value| over the last season), cut into chunks of `chunk_length` values
(one recurrent step each), run through a GRU/LSTM stack, and a dense layer maps the
last state to all H steps at once (or H x quantiles): a correction added to the
seasonal-naive forecast of the scaled history, then multiplied back by the level.
The loss is MAE (or pinball for quantiles) weighted by 1 / level, i.e. a relative
error, so every series counts alike whatever its scale; or, with `--loss smape`, M4's
sMAPE itself, 2 |y - f| / (|y| + |f|) per step (scale-free, so unweighted).

Scored as M4 did (`zoo.m4`): sMAPE, MASE and OWA against Naive2, beside Naive,
sNaive and Naive2 computed on the same series.
"""

import argparse
import dataclasses
import math
import pathlib

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo import m4
from zoo.builders import recurrent_stack
from zoo.data import find_table, read_rows
from zoo.task import Data, Task

# ----------------------------------------------------------------------- data


@dataclasses.dataclass
class SeriesSet:
    """Series with their in-sample values and the `horizon` values to forecast."""

    names: list
    insamples: list  # float64 arrays of varying length
    actuals: np.ndarray  # (series, horizon)
    horizon: int
    seasonality: int


def _parse_value(text, path, line, column):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}, line {line}, column {column}: {text!r} is not a number.") from None
    if not math.isfinite(value):
        raise ValueError(
            f"{path}, line {line}, column {column}: {text!r} is not a finite number; "
            "drop or fill missing values before training."
        )
    return value


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_wide(path):
    """`{id: (values, line)}` from a file with one series per row: id, v1, v2, ...

    A header row is recognised by non-numeric value fields (M4's `"V1","V2",...`).
    Trailing empty fields are padding; an empty field between values is an error.
    """
    rows = read_rows(path)
    first_value = rows[0][1][1].strip() if len(rows[0][1]) > 1 else ""
    if first_value and not _is_number(first_value):
        rows = rows[1:]
        if not rows:
            raise ValueError(f"{path}: header only, no series.")
    series = {}
    for line, fields in rows:
        name, cells = fields[0].strip(), fields[1:]
        while cells and not cells[-1].strip():
            cells.pop()
        if not cells:
            raise ValueError(f"{path}, line {line}: series {name!r} has no values.")
        if name in series:
            raise ValueError(f"{path}, line {line}: series {name!r} appears twice.")
        values = []
        for column, cell in enumerate(cells, start=2):
            if not cell.strip():
                raise ValueError(
                    f"{path}, line {line}, column {column}: series {name!r} has an empty value "
                    "between values; fill or drop the gap."
                )
            values.append(_parse_value(cell, path, line, column))
        series[name] = (np.array(values), line)
    return series


def read_long(path, id_column, time_column, value_column):
    """`{id: (values, first line)}` from rows `id, timestamp, value`, sorted by time."""
    rows = read_rows(path)
    header = [field.strip() for field in rows[0][1]]
    missing = [c for c in (id_column, time_column, value_column) if c not in header]
    if missing:
        raise ValueError(f"{path}: no column(s) {missing}; the header has {header}.")
    columns = [header.index(c) for c in (id_column, time_column, value_column)]
    grouped = {}
    for line, fields in rows[1:]:
        if len(fields) <= max(columns):
            raise ValueError(f"{path}, line {line}: {len(fields)} fields, the header has {len(header)}.")
        name, time, value = (fields[c].strip() for c in columns)
        value = _parse_value(value, path, line, value_column)
        grouped.setdefault(name, []).append((time, value, line))
    numeric_times = all(_is_number(t) for points in grouped.values() for t, _, _ in points)
    series = {}
    for name, points in grouped.items():
        points.sort(key=lambda point: float(point[0]) if numeric_times else point[0])
        times = [t for t, _, _ in points]
        if len(set(times)) != len(times):
            raise ValueError(f"{path}: series {name!r} has repeated timestamps.")
        series[name] = (np.array([v for _, v, _ in points]), points[0][2])
    if not series:
        raise ValueError(f"{path}: header only, no data rows.")
    return series


def read_series_file(path, config):
    header = [field.strip() for field in read_rows(path)[0][1]]
    if {config["id_column"], config["time_column"], config["value_column"]} <= set(header):
        return read_long(path, config["id_column"], config["time_column"], config["value_column"])
    return read_wide(path)


def split_series(train, test, horizon, seasonality, train_path, test_path=None):
    """A SeriesSet from `{id: (values, line)}` dicts; without `test`, the last H values."""
    names, insamples, actuals = [], [], []
    for name, (values, line) in train.items():
        where = f"{train_path}, line {line}"
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{where}: series {name!r} has NaN or inf values.")
        if test is None:
            values, future = values[:-horizon], values[-horizon:]
        else:
            if name not in test:
                raise ValueError(f"{test_path}: no row for series {name!r} (in {where}).")
            future, test_line = test[name]
            if len(future) < horizon:
                raise ValueError(
                    f"{test_path}, line {test_line}: series {name!r} has {len(future)} test values; need {horizon}."
                )
            future = future[:horizon]
        if len(values) < 2:
            raise ValueError(
                f"{where}: series {name!r} has {len(values)} in-sample value(s) before its "
                f"{horizon}-step test; need at least 2."
            )
        names.append(name)
        insamples.append(values)
        actuals.append(future)
    return SeriesSet(names, insamples, np.stack(actuals), horizon, seasonality)


def m4_files(data_dir, frequency=None):
    """(frequency, train path, test path) of the M4 files in `data_dir`."""
    data_dir = pathlib.Path(data_dir)
    for name in [frequency] if frequency else m4.M4_FREQUENCIES:
        try:
            return name, find_table(data_dir, f"{name}-train"), find_table(data_dir, f"{name}-test")
        except FileNotFoundError:
            continue
    raise FileNotFoundError(
        f"no M4 files in {data_dir}: expected e.g. Hourly-train.csv and Hourly-test.csv "
        f"(frequencies {list(m4.M4_FREQUENCIES)}, optionally gzipped)."
    )


def load_m4(data_dir, frequency=None):
    frequency, train_path, test_path = m4_files(data_dir, frequency)
    horizon, seasonality = m4.M4_FREQUENCIES[frequency]
    series = split_series(
        read_wide(train_path), read_wide(test_path), horizon, seasonality, train_path, test_path
    )
    return series, f"M4 {frequency}"


def load_csv(config):
    if not config["data_dir"]:
        raise ValueError("--data csv needs --data-dir: a CSV/TSV file, or a folder with train.* and test.*.")
    path = pathlib.Path(config["data_dir"])
    test_path = None
    if path.is_dir():
        path = find_table(path, "train")
        try:
            test_path = find_table(path.parent, "test")
        except FileNotFoundError:
            pass
    elif not path.exists():
        raise FileNotFoundError(f"--data-dir {path}: no such file or folder.")
    train = read_series_file(path, config)
    test = read_series_file(test_path, config) if test_path else None
    series = split_series(train, test, config["horizon"], config["seasonality"], path, test_path)
    return series, f"CSV {path}"


def mackey_glass(length, rng, tau=17, beta=0.2, gamma=0.1, power=10, substeps=10):
    """Mackey-Glass delay equation dx/dt = beta x(t-tau) / (1 + x(t-tau)^n) - gamma x."""
    warmup = 500
    total = (length + warmup) * substeps
    delay = tau * substeps
    x = np.empty(total + delay)
    x[: delay + 1] = 1.2 + 0.2 * rng.standard_normal(delay + 1)
    dt = 1.0 / substeps
    for t in range(delay, total + delay - 1):
        lagged = x[t - delay]
        x[t + 1] = x[t] + dt * (beta * lagged / (1 + lagged**power) - gamma * x[t])
    return x[delay + warmup * substeps :: substeps][:length]


def seasonal_series(length, rng, seasonality):
    """Positive series: level x trend x daily x weekly seasonality, with noise."""
    t = np.arange(length)
    level = rng.uniform(50, 5000)
    trend = 1 + rng.uniform(-0.3, 0.6) * t / length
    daily = 1 + rng.uniform(0.1, 0.6) * np.sin(2 * np.pi * t / seasonality + rng.uniform(0, 2 * np.pi))
    weekly = 1 + rng.uniform(0.0, 0.3) * np.sin(2 * np.pi * t / (7 * seasonality) + rng.uniform(0, 2 * np.pi))
    noise = 1 + rng.uniform(0.01, 0.08) * rng.standard_normal(length)
    return level * trend * daily * weekly * noise


def load_synthetic(config):
    rng = np.random.default_rng(config["seed"])
    horizon, seasonality = config["horizon"], config["seasonality"]
    train = {}
    for index in range(config["synthetic_series"]):
        length = int(rng.integers(8, 16)) * 7 * seasonality // 2 + horizon
        if index % 2:
            values = rng.uniform(10, 1000) * mackey_glass(length, rng)
            values *= 1 + 0.01 * rng.standard_normal(length)
        else:
            values = seasonal_series(length, rng, seasonality)
        train[f"S{index + 1}"] = (values, index + 1)
    return split_series(train, None, horizon, seasonality, "synthetic"), "synthetic (Mackey-Glass + seasonal)"


# --------------------------------------------------------------- windowing


def last_values(series, window):
    """(series, window) float32 array of each series' last `window` values, NaN-padded on the left."""
    out = np.full((len(series), window), np.nan, dtype="float32")
    for row, values in enumerate(series):
        values = values[-window:]
        out[row, window - len(values) :] = values
    return out


def training_windows(series_set, window, batch_size, steps, seed, loss_scale="level"):
    """Endless random (history, future, weight) batches, `steps` per epoch.

    A series is drawn uniformly, then a forecast origin uniformly among those whose
    H future values lie before the series' validation part; history before the
    series' start is NaN.
    """
    horizon = series_set.horizon
    fit_parts = [values[:-horizon] for values in series_set.insamples if len(values) > 2 * horizon]
    if not fit_parts:
        raise ValueError(
            f"no series is long enough to train on: each needs more than {2 * horizon + 1} "
            f"in-sample values (horizon {horizon} for validation and {horizon} as a target)."
        )
    longest = max(len(values) for values in fit_parts)
    padded = np.full((len(fit_parts), window + longest), np.nan, dtype="float32")
    for row, values in enumerate(fit_parts):
        padded[row, window : window + len(values)] = values
    # Origins o (the first forecast step) run over 1 .. n - H in series coordinates.
    origins = tf.constant([len(values) - horizon for values in fit_parts], tf.int64)
    padded = tf.constant(padded)
    seasonality = series_set.seasonality

    def make_batch(random):
        series = random % len(fit_parts)
        # A second uniform draw in [0, 1) from the same random integer's other digits.
        fraction = tf.cast((random // len(fit_parts)) % 1_000_003, tf.float32) / 1_000_003.0
        origin = 1 + tf.cast(fraction * tf.cast(tf.gather(origins, series), tf.float32), tf.int64)
        origin = tf.minimum(origin, tf.gather(origins, series))
        offsets = tf.range(window + horizon, dtype=tf.int64)
        # Value t of a series sits in padded column window + t, so the history
        # (t = origin - window ...) starts in column origin.
        columns = origin[:, None] + offsets[None, :]
        rows = tf.gather(padded, series)
        values = tf.gather(rows, columns, batch_dims=1)
        history, future = values[:, :window], values[:, window:]
        return history, future, loss_weights(history, seasonality, loss_scale)

    dataset = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = dataset.map(lambda r: tf.abs(r)).batch(batch_size).take(steps)
    return dataset.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def evaluation_windows(histories, futures, seasonality, batch_size, loss_scale="level"):
    weights = loss_weights(tf.constant(histories), seasonality, loss_scale)
    return tf.data.Dataset.from_tensor_slices((histories, futures.astype("float32"), weights)).batch(batch_size)


LOSS_SCALES = ("level", "seasonal_difference")
LOSSES = ("mae", "smape")


def loss_weights(history, seasonality, loss_scale):
    """1 / scale per window, so the loss is scale-free: `level` (mean |value| over the
    last season; MAE becomes a relative error, like sMAPE) or `seasonal_difference`
    (mean |y_t - y_{t-m}| over the window, as MASE scales); None: 1 (a scale-free loss)."""
    if loss_scale is None:
        return tf.ones([tf.shape(history)[0]], history.dtype)
    if loss_scale not in LOSS_SCALES:
        raise ValueError(f"loss_scale {loss_scale!r}: choose one of {LOSS_SCALES}.")
    level = season_level(history, seasonality)[:, 0]
    if loss_scale == "level":
        return 1.0 / level
    lag = seasonality if history.shape[1] > seasonality else 1
    differences = tf.abs(history[:, lag:] - history[:, :-lag])
    observed = tf.logical_not(tf.math.is_nan(differences))
    scale = tf.reduce_sum(tf.where(observed, differences, 0.0), axis=1) / tf.maximum(
        tf.reduce_sum(tf.cast(observed, tf.float32), axis=1), 1.0
    )
    return 1.0 / tf.where(scale > 0, scale, level)


# ---------------------------------------------------------------------- model


def season_level(history, seasonality):
    """(batch, 1) mean |value| over the last season's observed (non-NaN) values.

    Falls back to the whole window when the last season is all missing, and to 1
    for an all-zero or empty window, so dividing by it is always safe.
    """
    observed = ops.logical_not(ops.isnan(history))
    magnitude = ops.where(observed, ops.abs(history), 0.0)
    recent = ops.cast(observed[:, -seasonality:], history.dtype)
    recent_level = ops.sum(magnitude[:, -seasonality:], axis=1, keepdims=True) / ops.maximum(
        ops.sum(recent, axis=1, keepdims=True), 1.0
    )
    overall_level = ops.sum(magnitude, axis=1, keepdims=True) / ops.maximum(
        ops.sum(ops.cast(observed, history.dtype), axis=1, keepdims=True), 1.0
    )
    level = ops.where(recent_level > 0, recent_level, overall_level)
    return ops.where(level > 0, level, ops.ones_like(level))


@keras.saving.register_keras_serializable(package="zoo")
class SeasonLevel(keras.layers.Layer):
    """The history's level: mean |value| over the last `seasonality` observed values."""

    def __init__(self, seasonality, **kwargs):
        super().__init__(**kwargs)
        self.seasonality = seasonality

    def call(self, history):
        return season_level(history, self.seasonality)

    def get_config(self):
        return {**super().get_config(), "seasonality": self.seasonality}


@keras.saving.register_keras_serializable(package="zoo")
class ScaledChunks(keras.layers.Layer):
    """history / level cut into chunks of `chunk_length` values, one recurrent step each.

    Output (batch, window / chunk_length, chunk_length) with missing values as 0,
    and a mask that is False for chunks with no observed value.
    """

    def __init__(self, chunk_length, **kwargs):
        super().__init__(**kwargs)
        self.chunk_length = chunk_length

    def call(self, history, level):
        scaled = ops.where(ops.isnan(history), 0.0, history / level)
        return ops.reshape(scaled, (-1, history.shape[1] // self.chunk_length, self.chunk_length))

    def compute_mask(self, history, level=None):
        observed = ops.logical_not(ops.isnan(history))
        chunks = ops.reshape(observed, (-1, history.shape[1] // self.chunk_length, self.chunk_length))
        return ops.any(chunks, axis=-1)

    def compute_output_shape(self, history_shape, level_shape=None):
        return (history_shape[0], history_shape[1] // self.chunk_length, self.chunk_length)

    def get_config(self):
        return {**super().get_config(), "chunk_length": self.chunk_length}


@keras.saving.register_keras_serializable(package="zoo")
class Rescale(keras.layers.Layer):
    """(batch, H * Q) scaled outputs → (batch, H) or (batch, H, Q) in the series' units.

    forecast = level * (outputs + anchor), where the anchor is 0 or, with
    `seasonal_naive_residual`, the seasonal-naive forecast of the scaled history
    (its last season repeated; a missing value counts as the level), so the
    network learns a correction to sNaive.
    """

    def __init__(self, horizon, seasonality, num_quantiles=0, seasonal_naive_residual=False, **kwargs):
        super().__init__(**kwargs)
        self.horizon, self.seasonality = horizon, seasonality
        self.num_quantiles, self.seasonal_naive_residual = num_quantiles, seasonal_naive_residual

    def call(self, outputs, history, level):
        forecast = ops.reshape(outputs, (-1, self.horizon, max(self.num_quantiles, 1)))
        if self.seasonal_naive_residual:
            last_season = ops.where(ops.isnan(history), level, history)[:, -self.seasonality :]
            anchor = ops.take(last_season, np.arange(self.horizon) % self.seasonality, axis=1)
            forecast = forecast + (anchor / level)[:, :, None]
        forecast = forecast * level[:, :, None]  # (batch, horizon, quantiles or 1)
        return forecast if self.num_quantiles else forecast[:, :, 0]

    def get_config(self):
        return {
            **super().get_config(),
            "horizon": self.horizon,
            "seasonality": self.seasonality,
            "num_quantiles": self.num_quantiles,
            "seasonal_naive_residual": self.seasonal_naive_residual,
        }


@keras.saving.register_keras_serializable(package="zoo")
class PinballLoss(keras.losses.Loss):
    """mean over steps and quantiles q of max(q (y - f_q), (q - 1) (y - f_q))."""

    def __init__(self, quantiles, name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantiles = list(quantiles)

    def call(self, y_true, y_pred):
        error = ops.expand_dims(y_true, -1) - y_pred  # (batch, horizon, quantiles)
        q = ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)
        return ops.mean(ops.maximum(q * error, (q - 1.0) * error), axis=(1, 2))

    def get_config(self):
        return {**super().get_config(), "quantiles": self.quantiles}


@keras.saving.register_keras_serializable(package="zoo")
class SMAPELoss(keras.losses.Loss):
    """M4's sMAPE as a loss: mean over steps of 2 |y - f| / (|y| + |f|) (0 where both are 0)."""

    def __init__(self, name="smape", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        denominator = ops.abs(y_true) + ops.abs(y_pred)
        ratio = 2.0 * ops.abs(y_true - y_pred) / ops.maximum(denominator, 1e-8)
        return ops.mean(ratio, axis=-1)


def window_loss_scale(config):
    """The per-window weight `loss_weights` applies: None (unweighted) for the scale-free sMAPE."""
    if config["loss"] not in LOSSES:
        raise ValueError(f"loss {config['loss']!r}: choose one of {LOSSES}.")
    if config["loss"] == "mae":
        return config["loss_scale"]
    if config["quantiles"]:
        raise ValueError("--loss smape forecasts a point; with --quantiles use --loss mae (pinball loss).")
    return None


def parse_quantiles(text):
    """"0.1,0.5,0.9" → [0.1, 0.5, 0.9]; the median must be among them (it is the point forecast)."""
    if not text:
        return []
    try:
        quantiles = sorted(float(q) for q in str(text).split(","))
    except ValueError:
        raise ValueError(f"--quantiles {text!r}: expected numbers like 0.1,0.5,0.9.") from None
    if any(not 0 < q < 1 for q in quantiles) or 0.5 not in quantiles:
        raise ValueError(f"--quantiles {text!r}: each must lie in (0, 1), and 0.5 must be one.")
    return quantiles


# ---------------------------------------------------------------------- task


class ForecastingTask(Task):
    name = "forecasting"
    defaults = {
        "cell": "gru",
        "data": None,  # None: M4 when --data-dir has it, else synthetic
        "data_dir": None,
        "m4_frequency": None,  # None: the first M4 frequency found in --data-dir
        "id_column": "id",
        "time_column": "timestamp",
        "value_column": "value",
        "horizon": 48,  # csv and synthetic; M4 sets its own
        "seasonality": 24,
        "synthetic_series": 200,
        "input_window": None,  # None: 14 seasons (or 4 x horizon when not seasonal)
        "chunk_length": None,  # None: the seasonality (a day of hourly values per step)
        "quantiles": None,  # e.g. "0.1,0.5,0.9"
        "loss": "mae",  # or "smape" (M4's metric itself; not with quantiles)
        "loss_scale": "level",  # MAE's weight per window: 1 / level, or "seasonal_difference"
        "seasonal_naive_residual": True,  # learn a correction to the seasonal-naive forecast
        "units": 128,
        "num_layers": 2,
        "bidirectional": False,
        "dropout": 0.0,
        "epochs": 30,
        "steps_per_epoch": 300,
        "batch_size": 256,
        "learning_rate": 2e-3,
        "seed": 0,
        "patience": 6,
    }

    def add_arguments(self, parser):
        group = parser.add_argument_group("forecasting")
        group.add_argument("--m4-frequency", choices=list(m4.M4_FREQUENCIES), help="M4 file to use")
        group.add_argument("--horizon", type=int, help="steps to forecast (csv, synthetic; M4 fixes it)")
        group.add_argument("--seasonality", type=int, help="seasonal period m (csv, synthetic)")
        group.add_argument("--id-column", help="series id column of a long CSV (default id)")
        group.add_argument("--time-column", help="timestamp column of a long CSV (default timestamp)")
        group.add_argument("--value-column", help="value column of a long CSV (default value)")
        group.add_argument("--input-window", type=int, help="history values the model reads")
        group.add_argument("--chunk-length", type=int, help="history values per recurrent step")
        group.add_argument("--quantiles", help="also forecast these quantiles, e.g. 0.1,0.5,0.9")
        group.add_argument("--loss", choices=LOSSES, help="MAE divided by --loss-scale, or sMAPE")
        group.add_argument(
            "--loss-scale", choices=LOSS_SCALES,
            help="divide each window's loss by its level (like sMAPE) or seasonal difference (like MASE)",
        )
        group.add_argument(
            "--seasonal-naive-residual", action=argparse.BooleanOptionalAction, default=None,
            help="forecast a correction to the seasonal-naive forecast",
        )
        group.add_argument("--steps-per-epoch", type=int, help="random windows batches per epoch")
        group.add_argument("--synthetic-series", type=int)

    # -- data

    def build_inputs(self, config):
        source = config["data"]
        if source is None:
            source = "synthetic"
            if config["data_dir"]:
                try:
                    m4_files(config["data_dir"], config["m4_frequency"])
                    source = "m4"
                except FileNotFoundError:
                    pass
            if source == "synthetic":
                print(
                    "forecasting: no M4 files found, using synthetic series "
                    "(for M4: --data m4 --data-dir DIR with Hourly-train.csv and Hourly-test.csv)."
                )
        if source == "m4":
            if not config["data_dir"]:
                raise ValueError("--data m4 needs --data-dir, the folder with the M4 CSV files.")
            series, description = load_m4(config["data_dir"], config["m4_frequency"])
        elif source == "csv":
            series, description = load_csv(config)
        elif source == "synthetic":
            series, description = load_synthetic(config)
        else:
            raise ValueError(f"--data {source!r}: choose m4, csv or synthetic.")
        config.update(data=source, horizon=series.horizon, seasonality=series.seasonality)
        resolve_window(config)

        window, horizon, batch = config["input_window"], series.horizon, config["batch_size"]
        scale = window_loss_scale(config)
        validated = [values for values in series.insamples if len(values) > horizon]
        return Data(
            train=training_windows(
                series, window, batch, config["steps_per_epoch"], config["seed"], scale
            ),
            validation=evaluation_windows(
                last_values([values[:-horizon] for values in validated], window),
                np.stack([values[-horizon:] for values in validated]),
                series.seasonality,
                batch,
                scale,
            ),
            test=evaluation_windows(
                last_values(series.insamples, window),
                series.actuals,
                series.seasonality,
                batch,
                scale,
            ),
            description=(
                f"forecasting data: {description}, {len(series.names)} series, horizon "
                f"{series.horizon}, seasonality {series.seasonality}, input window {window}"
            ),
            info={
                "source": description,
                "series": len(series.names),
                "horizon": series.horizon,
                "seasonality": series.seasonality,
            },
            reference=series,
        )

    # -- model

    def build_model(self, config, data=None):
        resolve_window(config)
        window, chunk = config["input_window"], config["chunk_length"]
        quantiles = parse_quantiles(config["quantiles"])
        history = keras.Input(shape=(window,), name="history")  # NaN = missing
        level = SeasonLevel(config["seasonality"], name="level")(history)
        steps = ScaledChunks(chunk, name="chunks")(history, level)
        hidden = recurrent_stack(
            steps,
            cell=config["cell"],
            units=config["units"],
            num_layers=config["num_layers"],
            bidirectional=config["bidirectional"],
            return_sequences=False,
        )
        if config["dropout"]:
            hidden = keras.layers.Dropout(config["dropout"])(hidden)
        outputs = keras.layers.Dense(config["horizon"] * max(1, len(quantiles)), name="head")(hidden)
        forecast = Rescale(
            config["horizon"],
            config["seasonality"],
            len(quantiles),
            config["seasonal_naive_residual"],
            name="forecast",
        )(outputs, history, level)
        return keras.Model(history, forecast, name=f"forecasting_{config['cell']}")

    def build_losses(self, config):
        quantiles = parse_quantiles(config["quantiles"])
        if window_loss_scale(config) is None:
            return SMAPELoss()
        return PinballLoss(quantiles) if quantiles else keras.losses.MeanAbsoluteError()

    # -- evaluation

    def evaluate(self, model, data, config):
        series = data.reference
        forecasts = model.predict(data.test, verbose=0)
        quantiles = parse_quantiles(config["quantiles"])
        metrics = {}
        if quantiles:
            lower, upper = forecasts[..., 0], forecasts[..., -1]
            metrics["interval_coverage"] = float(np.mean((series.actuals >= lower) & (series.actuals <= upper)))
            forecasts = forecasts[..., quantiles.index(0.5)]
        scores = forecast_scores(series, forecasts)
        print(format_score_table(scores, f"{self.name}-{config['cell']}"))
        ours = scores.pop("model")
        metrics.update(smape=ours["smape"], mase=ours["mase"], owa=ours["owa"])
        for method, method_scores in scores.items():
            metrics.update({f"{method.lower()}_{k}": v for k, v in method_scores.items() if k != "mase_undefined_series"})
        metrics["mase_undefined_series"] = ours["mase_undefined_series"]
        metrics["test_series"] = len(series.names)
        return metrics

    # -- export

    def serving_signatures(self, model, data, config):
        window, quantiles = config["input_window"], parse_quantiles(config["quantiles"])

        def serve(history):
            forecast = model(fit_history(history, window), training=False)
            if quantiles:
                outputs = {"forecast": forecast[..., quantiles.index(0.5)], "quantiles": forecast}
                return outputs
            return {"forecast": forecast}

        return {"serving_default": (serve, [tf.TensorSpec([None, None], tf.float32, name="history")])}

    def serving_examples(self, data, config):
        series = data.reference
        return {"history": last_values(series.insamples[:2], config["input_window"])}


def resolve_window(config):
    """Fills `chunk_length` and `input_window` (a multiple of it) left to the task."""
    seasonality, horizon = config["seasonality"], config["horizon"]
    if config["chunk_length"] is None:
        config["chunk_length"] = seasonality if seasonality > 1 else 1
    if config["input_window"] is None:
        config["input_window"] = 14 * seasonality if seasonality > 1 else 4 * horizon
    chunk = config["chunk_length"]
    config["input_window"] = -(-config["input_window"] // chunk) * chunk


def fit_history(history, window):
    """Raw client histories → the model's (batch, window) input.

    Trailing NaNs (right padding of a ragged batch) move to the front, then the
    last `window` values are kept or NaN-padded on the left. ±inf is an error.
    """
    tf.debugging.assert_equal(
        tf.reduce_any(tf.math.is_inf(history)), False, message="history contains inf values"
    )
    length = tf.shape(history)[1]
    observed = tf.logical_not(tf.math.is_nan(history))
    trailing_missing = length - tf.reduce_max(
        tf.where(observed, tf.range(1, length + 1)[None, :], 0), axis=1
    )
    positions = tf.math.floormod(tf.range(length)[None, :] - trailing_missing[:, None], length)
    history = tf.gather(history, positions, batch_dims=1)
    padding = tf.fill([tf.shape(history)[0], tf.maximum(window - length, 0)], np.float32(np.nan))
    return tf.ensure_shape(tf.concat([padding, history], axis=1)[:, -window:], [None, window])


def forecast_scores(series, forecasts):
    """sMAPE/MASE/OWA of `forecasts` and of Naive, sNaive and Naive2 on the same series."""
    insamples, actuals, m = series.insamples, series.actuals, series.seasonality
    results = {
        method: m4.score(insamples, actuals, m4.benchmark_forecasts(method, insamples, series.horizon, m), m)
        for method in m4.BENCHMARKS
    }
    results["model"] = m4.score(insamples, actuals, forecasts, m)
    for scores in results.values():
        scores["owa"] = m4.owa(scores, results["Naive2"])
    return results


def format_score_table(scores, model_name):
    lines = [f"{'method':<24}{'sMAPE':>9}{'MASE':>9}{'OWA':>8}"]
    for method, values in scores.items():
        name = model_name if method == "model" else method
        lines.append(f"{name:<24}{values['smape']:>9.3f}{values['mase']:>9.3f}{values['owa']:>8.3f}")
    return "\n".join(lines)


TASK = ForecastingTask()
