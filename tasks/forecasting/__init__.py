"""Forecasting: raw history in, H steps out, scored as M4 did (`task.ForecastingTask`).

Modules: `task` (the task), `data` (series files, the CSV source, synthetic series), `m4`
(M4's files, scoring and benchmarks), `layers` (scaling layers, losses, windows, serving input),
`figures` (forecasts against actuals).
"""

from tasks.forecasting.task import ForecastingTask

__all__ = ["ForecastingTask"]
