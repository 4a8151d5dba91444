"""Forecasting's building blocks: scale-free windows, the model's layers and losses, serving input.

Symbols: a history window `x` of the last `window` values (NaN = missing), `m` the
seasonal period, `H` the horizon, `Q` the number of quantiles, `y` the actual
future and `f` the forecast.

    level      = mean |x_t| over the last season's observed values    (SeasonLevel)
    steps      = x / level, cut into chunks of `chunk_length` values   (ScaledChunks)
    forecast   = level * (outputs + anchor)                            (Rescale)
    anchor     = the last season of x / level repeated over H (sNaive), or 0
    pinball    = mean_{t,q} max(q (y_t - f_q,t), (q - 1) (y_t - f_q,t))  (PinballLoss)
    sMAPE loss = mean_t 2 |y_t - f_t| / (|y_t| + |f_t|)                  (SMAPELoss)

Training windows are weighted by 1 / scale (`loss_weights`), so an error counts
relative to its series' size. The layers and losses are registered with Keras
(package "zoo"), so a saved model loads once this module is imported.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tasks.forecasting.settings import LOSS_SCALES
from zoo.guards import check_rows


# ---------------------------------------------------------------- scaling


def season_level(history, seasonality):
    """(batch, 1) mean |value| over the last season's observed (non-NaN) values.

    Falls back to the whole window when the last season is all missing, and to 1
    for an all-zero or empty window, so dividing by it is always safe.
    """
    missing = ops.isnan(history)
    observed = ops.logical_not(missing)
    # `isnan` itself as the condition: tf2onnx turns a select on any other condition into
    # `c * a + (1 - c) * b`, where a NaN in the unused branch still gives NaN (see zoo.edge).
    magnitude = ops.where(missing, 0.0, ops.abs(history))
    recent = ops.cast(observed[:, -seasonality:], history.dtype)
    recent_level = ops.sum(magnitude[:, -seasonality:], axis=1, keepdims=True) / ops.maximum(
        ops.sum(recent, axis=1, keepdims=True), 1.0
    )
    overall_level = ops.sum(magnitude, axis=1, keepdims=True) / ops.maximum(
        ops.sum(ops.cast(observed, history.dtype), axis=1, keepdims=True), 1.0
    )
    level = ops.where(recent_level > 0, recent_level, overall_level)
    return ops.where(level > 0, level, ops.ones_like(level))


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


# ----------------------------------------------------------------- layers


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


# ----------------------------------------------------------------- losses


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



@keras.saving.register_keras_serializable(package="zoo")
class MedianEnsemble(keras.layers.Layer):
    """The element-wise median of the members' forecasts, as `numpy.median` over members:
    the middle value for an odd count, the mean of the two middle ones for an even count.
    M4's best methods combined forecasts this way; the median is robust to one bad member."""

    def call(self, forecasts):
        stacked = ops.sort(ops.stack(forecasts, axis=0), axis=0)  # (members, batch, H[, Q])
        middle = len(forecasts) // 2
        if len(forecasts) % 2:
            return stacked[middle]
        return 0.5 * (stacked[middle - 1] + stacked[middle])

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def median_ensemble(members, name="forecasting_ensemble"):
    """One Keras model forecasting the median of `members` (models with the same input)."""
    history = keras.Input(shape=members[0].input_shape[1:], name="history")
    for index, member in enumerate(members):
        member.name = f"member_{index}"  # nested models need distinct names
    forecast = MedianEnsemble(name="median")([member(history) for member in members])
    return keras.Model(history, forecast, name=name)


# ---------------------------------------------------------------- windows


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
    """Batches of fixed (history, future, weight) windows, in order (validation, test)."""
    weights = loss_weights(tf.constant(histories), seasonality, loss_scale)
    return tf.data.Dataset.from_tensor_slices((histories, futures.astype("float32"), weights)).batch(batch_size)


# ---------------------------------------------------------------- serving


def fit_history(history, window):
    """Raw client histories → the model's (batch, window) input.

    Trailing NaNs (right padding of a ragged batch) move to the front, then the
    last `window` values are kept or NaN-padded on the left. A row holding ±inf, or
    no value at all (all NaN, or no columns), stops the call naming the row.
    """
    history = check_rows(history, tf.logical_not(tf.reduce_any(tf.math.is_inf(history), axis=1)),
                         "Input 'history' row {} holds an infinite value; send NaN for a missing one.")
    history = check_rows(history, tf.reduce_any(tf.logical_not(tf.math.is_nan(history)), axis=1),
                         "Input 'history' row {} has no value (all NaN or empty); send at least one.")
    length = tf.shape(history)[1]
    observed = tf.logical_not(tf.math.is_nan(history))
    trailing_missing = length - tf.reduce_max(
        tf.where(observed, tf.range(1, length + 1)[None, :], 0), axis=1
    )
    positions = tf.math.floormod(tf.range(length)[None, :] - trailing_missing[:, None], length)
    history = tf.gather(history, positions, batch_dims=1)
    padding = tf.fill([tf.shape(history)[0], tf.maximum(window - length, 0)], np.float32(np.nan))
    # (a reshape, not tf.ensure_shape: LiteRT has the one as a builtin op, not the other)
    return tf.reshape(tf.concat([padding, history], axis=1)[:, -window:], [tf.shape(history)[0], window])
