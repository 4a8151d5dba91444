"""Forecasting's picture: forecasts against actuals, with the P10-P90 band when there are quantiles."""

import numpy as np

from zoo.plots import plt


def forecast_figure(histories, actuals, forecasts, names, lower=None, upper=None, context=None, title=""):
    """One panel per series: the last `context` history values, the actuals and the forecast
    (with the band between `lower` and `upper` when given). Arrays are (series, steps)."""
    count = len(names)
    figure, axes = plt.subplots(count, 1, figsize=(9, 2.2 * count), squeeze=False)
    for row, axis in enumerate(axes[:, 0]):
        history = histories[row][~np.isnan(histories[row])]
        history = history[-context:] if context else history
        past = np.arange(-len(history), 0)
        future = np.arange(len(actuals[row]))
        axis.plot(past, history, color="black", linewidth=1, label="history")
        axis.plot(future, actuals[row], color="black", linestyle="--", linewidth=1, label="actual")
        axis.plot(future, forecasts[row], color="tab:blue", linewidth=1.5, label="forecast")
        if lower is not None:
            axis.fill_between(future, lower[row], upper[row], color="tab:blue", alpha=0.2, label="P10-P90")
        axis.set_ylabel(names[row])
        axis.axvline(-0.5, color="grey", linewidth=0.5)
    axes[0, 0].legend(loc="upper left", fontsize=8, ncol=4)
    axes[-1, 0].set_xlabel("step (0 = first forecast step)")
    figure.suptitle(title)
    return figure
