"""Forecasting's data: series files (wide or long CSV/TSV), the CSV source, and the synthetic series.

Series files are read into `{id: (values, line)}` dicts and split into in-sample values
and the values to forecast (`SeriesSet`); errors name the file, line and column. M4's
own files are `tasks.forecasting.m4`.
"""

import dataclasses
import math
import pathlib

import numpy as np

from zoo.data import find_table, read_rows

# ---------------------------------------------------------------- series files
# Time series in CSV/TSV files: wide (one series per row) or long (id, time, value rows),
# read into `{id: (values, line)}` dicts and split into in-sample values and the
# values to forecast. Errors name the file, line and column.


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


def read_series_file(path, id_column, time_column, value_column):
    """Long when the header has all three columns, else wide (see `read_long`, `read_wide`)."""
    header = [field.strip() for field in read_rows(path)[0][1]]
    if {id_column, time_column, value_column} <= set(header):
        return read_long(path, id_column, time_column, value_column)
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


# --------------------------------------------------------- the task's sources


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
    columns = config["id_column"], config["time_column"], config["value_column"]
    train = read_series_file(path, *columns)
    test = read_series_file(test_path, *columns) if test_path else None
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
