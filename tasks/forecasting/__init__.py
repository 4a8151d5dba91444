"""Forecasting: raw history in, H steps out, scored as M4 did (`task.ForecastingTask`).

Modules: `settings` (the hyperparameter table, without TensorFlow), `task` (the task), `data`
(series files, the CSV source, synthetic series), `m4` (M4's files, scoring and benchmarks),
`layers` (scaling layers, losses, windows, serving input), `figures` (forecasts against actuals).
"""

from tasks.forecasting.settings import HYPERPARAMETERS


def __getattr__(name):
    # The task class, and TensorFlow with it, only when asked for (PEP 562): `HYPERPARAMETERS` alone
    # is what train.py checks flags against (`zoo.task.hyperparameter_table`).
    if name == "ForecastingTask":
        from tasks.forecasting.task import ForecastingTask

        return ForecastingTask
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ForecastingTask", "HYPERPARAMETERS"]
