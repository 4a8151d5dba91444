"""The forecasting task's hyperparameter table (`zoo.hyperparameters`) and the settings it checks: plain
data, importable without TensorFlow, so train.py checks its flags before TensorFlow is imported
(`zoo.task.hyperparameter_table`)."""

from tasks.forecasting import m4
from zoo.hyperparameters import Hyperparameter, shared

LOSSES = ("mae", "smape")  # --loss: MAE weighted per window (layers.loss_weights), or M4's sMAPE
LOSS_SCALES = ("level", "seasonal_difference")  # --loss-scale: what a window's MAE is divided by


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


HYPERPARAMETERS = shared(
    epochs=30, batch_size=256, learning_rate=2e-3, units=128, num_layers=2, bidirectional=False,
    dropout=0.0, patience=6,
) + [
    Hyperparameter("m4_frequency", None, str, "M4 file to use", auto="the first found in --data-dir",
                   choices=tuple(m4.M4_FREQUENCIES)),
    Hyperparameter("id_column", "id", str, "series id column of a long CSV"),
    Hyperparameter("time_column", "timestamp", str, "timestamp column of a long CSV"),
    Hyperparameter("value_column", "value", str, "value column of a long CSV"),
    Hyperparameter("horizon", 48, int, "steps to forecast (csv, synthetic; M4 fixes it)"),
    Hyperparameter("seasonality", 24, int, "seasonal period m (csv, synthetic; M4 fixes it)"),
    Hyperparameter("synthetic_series", 200, int, "series of the synthetic data"),
    Hyperparameter("input_window", None, int, "history values the model reads",
                   auto="14 seasons, or 4 x horizon when not seasonal; a multiple of --chunk-length"),
    Hyperparameter("chunk_length", None, int, "history values per recurrent step",
                   auto="the seasonality (a day of hourly values per step)"),
    Hyperparameter("quantiles", None, str, "also forecast these quantiles, e.g. 0.1,0.5,0.9",
                   check=parse_quantiles),  # refused before any data is read
    Hyperparameter("loss", "mae", str, "MAE divided by --loss-scale, or M4's sMAPE (not with quantiles)",
                   choices=LOSSES),
    Hyperparameter("loss_scale", "level", str, "divide each window's MAE by its level (like sMAPE) "
                   "or seasonal difference (like MASE)", choices=LOSS_SCALES),
    Hyperparameter("seasonal_naive_residual", True, bool,
                   "forecast a correction to the seasonal-naive forecast"),
    Hyperparameter("steps_per_epoch", 300, int, "random window batches per epoch"),
]
