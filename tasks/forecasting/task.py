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

Scored as M4 did (`tasks.forecasting.m4`): sMAPE, MASE and OWA against Naive2, beside Naive,
sNaive and Naive2 computed on the same series.

The package holds the parts: series files and the synthetic series in `data`, M4's
files and scoring in `m4`, the layers, losses, windows and serving input in `layers`,
the picture in `figures`. This module chooses the data, assembles the model and loss,
and says what the export serves.
"""

import keras
import numpy as np
import tensorflow as tf

from tasks.forecasting import card, m4
from tasks.forecasting.data import load_csv, load_synthetic
from tasks.forecasting.figures import forecast_figure
from tasks.forecasting.layers import (
    PinballLoss,
    Rescale,
    ScaledChunks,
    SeasonLevel,
    SMAPELoss,
    evaluation_windows,
    fit_history,
    last_values,
    median_ensemble,
    training_windows,
)
from tasks.forecasting.m4 import forecast_scores, format_score_table, load_m4, m4_files
from tasks.forecasting.settings import HYPERPARAMETERS, LOSSES, parse_quantiles
from zoo.builders import configured_stack
from zoo.guards import check_rows
from zoo.task import Data, Metric, Task, register_task

# ------------------------------------------------------- model and loss settings


def series_settings(config, horizon, seasonality):
    """The config entries the series decide: their `horizon` and `seasonality` (M4 fixes them), and
    `input_window` and `chunk_length` as set, else one season per chunk and 14 seasons (4 x horizon
    when not seasonal); the window rounded up to whole chunks."""
    chunk = config["chunk_length"] or (seasonality if seasonality > 1 else 1)
    window = config["input_window"] or (14 * seasonality if seasonality > 1 else 4 * horizon)
    return {"horizon": horizon, "seasonality": seasonality, "input_window": -(-window // chunk) * chunk,
            "chunk_length": chunk}


def window_loss_scale(config):
    """The per-window weight `tasks.forecasting.layers.loss_weights` applies: None (unweighted) for the scale-free sMAPE."""
    if config["loss"] not in LOSSES:
        raise ValueError(f"loss {config['loss']!r}: choose one of {LOSSES}.")
    if config["loss"] == "mae":
        return config["loss_scale"]
    if config["quantiles"]:
        raise ValueError("--loss smape forecasts a point; with --quantiles use --loss mae (pinball loss).")
    return None


# ---------------------------------------------------------------------- task


@register_task
class ForecastingTask(Task):
    name = "forecasting"
    # No threshold holds across data sets: "epochs to target" stays empty.
    metric = Metric("owa", higher_is_better=False, target=("val_loss", 0.0))
    tiny = dict(data="synthetic", synthetic_series=4, horizon=6, seasonality=4, input_window=12, units=4,
                num_layers=1, batch_size=8, quantiles="0.1,0.5,0.9")
    baseline_methods = ("snaive", "naive2")  # M4's benchmarks, scored by OWA like the model
    hyperparameters = HYPERPARAMETERS

    def resolve(self, config, data=None):
        """Fills `data`, the data's `horizon` and `seasonality`, `chunk_length` and `input_window`
        (`series_settings`): as the data decided them, else from the config."""
        if data:
            return {**config, **data.settings}
        return {**config, **series_settings(config, config["horizon"], config["seasonality"])}

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
        settings = {"data": source, **series_settings(config, series.horizon, series.seasonality)}
        window, horizon, batch = settings["input_window"], series.horizon, config["batch_size"]
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
                "data": source,
                "source": description,
                "series": len(series.names),
                "horizon": series.horizon,
                "seasonality": series.seasonality,
            },
            reference=series,
            settings=settings,
        )

    # -- model

    def ensemble(self, members):
        """The median of the members' forecasts (`layers.MedianEnsemble`): the shipped LSTM's three seeds."""
        return median_ensemble(members, name=f"{members[0].name}_ensemble")  # e.g. forecasting_lstm_ensemble

    def build_model(self, config, data=None, parent=None):  # a parent brings weights only
        window, chunk = config["input_window"], config["chunk_length"]
        quantiles = parse_quantiles(config["quantiles"])
        history = keras.Input(shape=(window,), name="history")  # NaN = missing
        # dtype float32 from the raw history to the level and scaled chunks, and from the head
        # to the forecast, whatever the policy: under mixed precision (zoo.distribute) values
        # in the thousands would keep 3 significant digits in bfloat16.
        level = SeasonLevel(config["seasonality"], name="level", dtype="float32")(history)
        steps = ScaledChunks(chunk, name="chunks", dtype="float32")(history, level)
        hidden = configured_stack(steps, config, return_sequences=False)
        if config["dropout"]:
            hidden = keras.layers.Dropout(config["dropout"])(hidden)
        outputs = keras.layers.Dense(config["horizon"] * max(1, len(quantiles)), name="head", dtype="float32")(hidden)
        forecast = Rescale(
            config["horizon"],
            config["seasonality"],
            len(quantiles),
            config["seasonal_naive_residual"],
            name="forecast",
            dtype="float32",
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

    def baseline(self, method, config, data):
        """sNaive or Naive2 on the test series, scored as M4 did (`m4.forecast_scores`)."""
        names = {"snaive": "sNaive", "naive2": "Naive2"}
        if method not in names:
            return super().baseline(method, config, data)
        series = data.reference
        naive = m4.benchmark_forecasts("Naive", series.insamples, series.horizon, series.seasonality)
        scores = m4.forecast_scores(series, naive)[names[method]]
        return scores["owa"], 0, {"smape": scores["smape"], "mase": scores["mase"]}

    def card_facts(self, recipe, config, data, metrics, model, version_dir, data_path):
        return card.card_facts(recipe, config, data, metrics, model, data_path)

    def figure(self, model, data, config, count=4):
        """Forecasts against actuals for the first `count` test series (P10-P90 band with quantiles)."""
        series, quantiles = data.reference, parse_quantiles(config["quantiles"])
        histories = last_values(series.insamples[:count], config["input_window"])
        forecasts = model.predict(histories, verbose=0)
        band = {}
        if quantiles:
            band = {"lower": forecasts[..., 0], "upper": forecasts[..., -1]}
            forecasts = forecasts[..., quantiles.index(0.5)]
        return forecast_figure(
            histories, series.actuals[:count], forecasts, series.names[:count], context=7 * series.seasonality,
            title=f"{data.info['source']}: {self.name}-{config['cell']}", **band,
        )

    # -- export

    # -- on-device (zoo.edge): the serving signature with a batch of one (the Task default)

    def edge_examples(self, model, config, warmup):
        """Each warm-up history as it is, shorter than the window (NaN-padded inside), and with
        a missing value: the paths where a NaN meets arithmetic."""
        rows = []
        for history in warmup["history"]:
            holed = history.copy()
            holed[len(holed) // 2] = np.nan
            rows += [history[None], history[None, len(history) // 2 :], holed[None]]
        return {"serving_default": [{"history": row} for row in rows]}

    def edge_about(self, config):
        return (f"`serving_default`: `history` float32[1, any] (raw values, oldest first, NaN for a missing "
                f"one; the last {config['input_window']} are used) in; `forecast` float32[1, {config['horizon']}]"
                + (" and `quantiles`" if config["quantiles"] else "") + " out, in the history's units.")

    def serving_signatures(self, model, data, config):
        window, quantiles = config["input_window"], parse_quantiles(config["quantiles"])

        def serve(history):
            forecast = model(fit_history(history, window), training=False)
            finite = tf.reduce_all(tf.math.is_finite(tf.reshape(forecast, [tf.shape(forecast)[0], -1])), axis=1)
            forecast = check_rows(forecast, finite,
                                  "Input 'history' row {} gives a forecast beyond float32's range; scale it down.")
            if quantiles:
                outputs = {"forecast": forecast[..., quantiles.index(0.5)], "quantiles": forecast}
                return outputs
            return {"forecast": forecast}

        return {"serving_default": (serve, [tf.TensorSpec([None, None], tf.float32, name="history")])}

    def serving_examples(self, data, config):
        series = data.reference
        return {"history": last_values(series.insamples[:2], config["input_window"])}
