"""Forecast scoring and benchmark methods exactly as the M4 competition defined them.

Symbols: `y` a series' in-sample values `y_1..y_n`, `f` a forecast of the next
`horizon` values, `a` the actual values, `m` the seasonal period.

    sMAPE = mean_t 200 |a_t - f_t| / (|a_t| + |f_t|)
    MASE  = mean_t |a_t - f_t| / scale,   scale = mean_{t>m} |y_t - y_{t-m}|
    OWA   = (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2) / 2

sMAPE and MASE are averaged over series first; OWA compares those averages with
Naive2's on the same series.

Benchmarks: Naive repeats the last value, sNaive the last season, Naive2 is Naive
on the seasonally adjusted series: when the 90% autocorrelation test finds
seasonality at lag m, classical multiplicative decomposition (centred moving
average of order m, seasonal indices averaged per phase) divides it out, and the
forecast is multiplied back by the indices of the forecast's phases.

Files: `load_m4(data_dir)` reads the competition's `<Frequency>-train.csv[.gz]` and
`-test` files into a `tasks.forecasting.data.SeriesSet`; `forecast_scores` scores a model's
forecasts beside the benchmarks on the same series, `format_score_table` prints them.
"""

import csv
import pathlib

import numpy as np

from tasks.forecasting.data import read_wide, split_series
from zoo.data import find_table

# Horizon and seasonal period of each M4 frequency (the competition's guide).
M4_FREQUENCIES = {
    "Yearly": (6, 1),
    "Quarterly": (8, 4),
    "Monthly": (18, 12),
    "Weekly": (13, 1),
    "Daily": (14, 1),
    "Hourly": (48, 24),
}


def smape(actual, forecast):
    """Per-series sMAPE in percent; 0 where actual and forecast are both 0."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    denominator = np.abs(actual) + np.abs(forecast)
    terms = np.divide(
        200.0 * np.abs(actual - forecast),
        denominator,
        out=np.zeros_like(denominator),
        where=denominator > 0,
    )
    return terms.mean(axis=-1)


def mase_scale(insample, seasonality):
    """mean |y_t - y_{t-m}| over the in-sample values (NaN for a constant series)."""
    insample = np.asarray(insample, float)
    lag = seasonality if len(insample) > seasonality else 1
    scale = np.mean(np.abs(insample[lag:] - insample[:-lag]))
    return scale if scale > 0 else np.nan


def mase(insample, actual, forecast, seasonality):
    """MASE of one series; NaN when the in-sample series is constant (scale 0)."""
    error = np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float)))
    return error / mase_scale(insample, seasonality)


def score(insamples, actuals, forecasts, seasonality):
    """Mean sMAPE and MASE over series; series with an undefined MASE are left out of it
    (MASE is None when every series is constant)."""
    smapes = np.array([smape(a, f) for a, f in zip(actuals, forecasts)])
    mases = np.array(
        [mase(y, a, f, seasonality) for y, a, f in zip(insamples, actuals, forecasts)]
    )
    return {
        "smape": float(smapes.mean()),
        "mase": None if np.isnan(mases).all() else float(np.nanmean(mases)),
        "mase_undefined_series": int(np.isnan(mases).sum()),
    }


def owa(scores, naive2_scores):
    """0.5 (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2); None where undefined: MASE undefined
    (constant series only) or Naive2 exact (sMAPE or MASE 0), e.g. on all-constant data."""
    if scores["mase"] is None or not naive2_scores["smape"] or not naive2_scores["mase"]:
        return None
    return 0.5 * (
        scores["smape"] / naive2_scores["smape"] + scores["mase"] / naive2_scores["mase"]
    )


# ------------------------------------------------------------- benchmarks


def naive(insample, horizon, seasonality=1):
    return np.full(horizon, float(insample[-1]))


def seasonal_naive(insample, horizon, seasonality):
    """Repeats the last `seasonality` values (Naive when the series is shorter)."""
    insample = np.asarray(insample, float)
    if seasonality <= 1 or len(insample) < seasonality:
        return naive(insample, horizon)
    last_season = insample[-seasonality:]
    return np.resize(last_season, horizon)


def autocorrelation(values, lag):
    values = np.asarray(values, float)
    centred = values - values.mean()
    return np.sum(centred[lag:] * centred[:-lag]) / np.sum(centred**2)


def is_seasonal(insample, seasonality):
    """M4's 90% test: |acf(m)| > 1.645 sqrt((1 + 2 sum_{k<m} acf(k)^2) / n).

    Needs at least three seasons of data; a constant series is not seasonal.
    """
    insample = np.asarray(insample, float)
    if seasonality <= 1 or len(insample) < 3 * seasonality or np.ptp(insample) == 0:
        return False
    acf = np.array([autocorrelation(insample, lag) for lag in range(1, seasonality + 1)])
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / len(insample))
    return abs(acf[-1]) > limit


def seasonal_indices(insample, seasonality):
    """Multiplicative seasonal index of each phase `t mod m`, mean 1 (all 1 if not seasonal)."""
    insample = np.asarray(insample, float)
    if not is_seasonal(insample, seasonality):
        return np.ones(seasonality)
    trend = centred_moving_average(insample, seasonality)
    ratios = insample / trend  # NaN where the moving average is undefined
    padded = np.full(-(-len(ratios) // seasonality) * seasonality, np.nan)
    padded[: len(ratios)] = ratios
    indices = np.nanmean(padded.reshape(-1, seasonality), axis=0)
    return indices / indices.mean()


def centred_moving_average(values, order):
    """Classical decomposition's trend: a centred MA, 2 x m for even m; NaN at the ends."""
    if order % 2:
        weights = np.full(order, 1.0 / order)
    else:
        weights = np.r_[0.5, np.ones(order - 1), 0.5] / order
    half = len(weights) // 2
    trend = np.full(len(values), np.nan)
    trend[half : len(values) - half] = np.convolve(values, weights, mode="valid")
    return trend


def naive2(insample, horizon, seasonality):
    """Naive on the seasonally adjusted series, reseasonalised."""
    insample = np.asarray(insample, float)
    indices = seasonal_indices(insample, seasonality)
    n = len(insample)
    last_adjusted = insample[-1] / indices[(n - 1) % seasonality]
    future_phases = (n + np.arange(horizon)) % seasonality
    return last_adjusted * indices[future_phases]


BENCHMARKS = {"Naive": naive, "sNaive": seasonal_naive, "Naive2": naive2}


def benchmark_forecasts(method, insamples, horizon, seasonality):
    return np.stack([BENCHMARKS[method](y, horizon, seasonality) for y in insamples])


# ------------------------------------------------------------------ files


def m4_files(data_dir, frequency=None):
    """(frequency, train path, test path) of the M4 files in `data_dir`."""
    data_dir = pathlib.Path(data_dir)
    for name in [frequency] if frequency else M4_FREQUENCIES:
        try:
            return name, find_table(data_dir, f"{name}-train"), find_table(data_dir, f"{name}-test")
        except FileNotFoundError:
            continue
    raise FileNotFoundError(
        f"no M4 files in {data_dir}: expected e.g. Hourly-train.csv and Hourly-test.csv "
        f"(frequencies {list(M4_FREQUENCIES)}, optionally gzipped)."
    )


def load_m4(data_dir, frequency=None):
    """(SeriesSet, description) of one M4 frequency, with the competition's horizon and m."""
    frequency, train_path, test_path = m4_files(data_dir, frequency)
    horizon, seasonality = M4_FREQUENCIES[frequency]
    series = split_series(
        read_wide(train_path), read_wide(test_path), horizon, seasonality, train_path, test_path
    )
    return series, f"M4 {frequency}"


# ---------------------------------------------------------------- scoring


def forecast_scores(series, forecasts):
    """sMAPE/MASE/OWA of `forecasts` and of Naive, sNaive and Naive2 on the same series."""
    insamples, actuals, m = series.insamples, series.actuals, series.seasonality
    results = {
        method: score(insamples, actuals, benchmark_forecasts(method, insamples, series.horizon, m), m)
        for method in BENCHMARKS
    }
    results["model"] = score(insamples, actuals, forecasts, m)
    for scores in results.values():
        scores["owa"] = owa(scores, results["Naive2"])
    return results


def format_score_table(scores, model_name):
    """`forecast_scores`' results as a text table, the model's row named `model_name`."""
    lines = [f"{'method':<24}{'sMAPE':>9}{'MASE':>9}{'OWA':>8}"]
    for method, values in scores.items():
        name = model_name if method == "model" else method
        cells = [f"{values[k]:.3f}" if values[k] is not None else "n/a" for k in ("smape", "mase", "owa")]
        lines.append(f"{name:<24}{cells[0]:>9}{cells[1]:>9}{cells[2]:>8}")
    return "\n".join(lines)


# Reference entries of the M4 Hourly table (method id in m4_hourly_method_scores.csv).
HOURLY_REFERENCES = {"238": "best Hourly entry (Doornik et al.)", "118": "ES-RNN (Smyl, M4 winner)"}


def hourly_reference_scores(data_dir):
    """`{entry name: {"smape", "mase", "owa"}}` of HOURLY_REFERENCES from the folder's
    `m4_hourly_method_scores.csv` (empty when the folder has none)."""
    table = pathlib.Path(data_dir) / "m4_hourly_method_scores.csv"
    if not table.exists():
        return {}
    with open(table) as handle:
        return {
            HOURLY_REFERENCES[row["method"]]: {key: float(row[f"{key}_hourly"]) for key in ("smape", "mase", "owa")}
            for row in csv.DictReader(handle)
            if row["method"] in HOURLY_REFERENCES
        }
