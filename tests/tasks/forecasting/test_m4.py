"""M4: the competition's metrics and benchmarks, its files, and the score table."""

import gzip

import numpy as np
import pytest

from tasks.forecasting import m4
from tasks.forecasting.data import SeriesSet
from tests.conftest import require_data

# ----------------------------------------------------------------- metrics


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


# -------------------------------------------------------------- benchmarks


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


# ------------------------------------------------------------------- files


def read_official_forecasts(path, method):
    with gzip.open(path, "rt") as handle:
        rows = [line.strip().split(",") for line in handle][1:]
    return {row[1].strip('"'): np.array(row[2:], float) for row in rows if row[0].strip('"') == method}


def test_m4_hourly_benchmarks_reproduce_the_official_scores():
    folder = require_data("m4_hourly")
    series, _ = m4.load_m4(folder)
    assert (len(series.names), series.horizon, series.seasonality) == (414, 48, 24)
    official = {"Naive2": (18.383, 2.395), "sNaive": (13.912, 1.193), "Naive": (43.003, 11.608)}
    for method, (smape, mase) in official.items():
        forecasts = m4.benchmark_forecasts(method, series.insamples, 48, 24)
        scores = m4.score(series.insamples, series.actuals, forecasts, 24)
        assert (round(scores["smape"], 3), round(scores["mase"], 3)) == (smape, mase), method
    naive2 = read_official_forecasts(folder / "hourly_point_forecasts.csv.gz", "Naive2")
    ours = m4.benchmark_forecasts("Naive2", series.insamples, 48, 24)
    np.testing.assert_allclose(ours, np.stack([naive2[name] for name in series.names]), atol=1e-3)


def test_a_folder_without_m4_files_names_what_it_expects(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no M4 files in .*: expected e.g. Hourly-train.csv and Hourly-test.csv"):
        m4.m4_files(tmp_path)
    (tmp_path / "Daily-train.csv").write_text("D1,1,2,3\n")
    (tmp_path / "Daily-test.csv").write_text("D1,4\n")
    assert m4.m4_files(tmp_path) == ("Daily", tmp_path / "Daily-train.csv", tmp_path / "Daily-test.csv")


# ----------------------------------------------------------------- scoring


def test_forecast_scores_put_the_model_beside_the_benchmarks():
    insamples = [10 * np.tile([1.0, 2.0, 0.5, 1.5], 12), np.arange(1.0, 41.0)]
    actuals = np.stack([10 * np.array([1.0, 2.0, 0.5, 1.5, 1.0, 2.0]), np.arange(41.0, 47.0)])
    series = SeriesSet(["A", "B"], insamples, actuals, 6, 4)
    naive2 = m4.benchmark_forecasts("Naive2", insamples, 6, 4)
    scores = m4.forecast_scores(series, naive2)
    assert list(scores) == ["Naive", "sNaive", "Naive2", "model"]
    assert scores["model"] == scores["Naive2"] and scores["model"]["owa"] == 1.0
    table = m4.format_score_table(scores, "my-model").split("\n")
    assert table[0] == f"{'method':<24}{'sMAPE':>9}{'MASE':>9}{'OWA':>8}"
    assert table[-1].startswith("my-model ") and table[-1].endswith("   1.000")


def test_all_constant_series_score_without_dividing_by_zero():
    insamples = [np.full(60, 5.0), np.zeros(60)]
    actuals = np.array([np.full(6, 5.0), np.zeros(6)])
    scores = m4.score(insamples, actuals, actuals, 24)
    assert scores == {"smape": 0.0, "mase": None, "mase_undefined_series": 2}
    naive2 = m4.score(insamples, actuals, actuals + 1.0, 24)
    assert m4.owa(scores, naive2) is None and m4.owa(naive2, scores) is None
    table = m4.format_score_table({"model": {**scores, "owa": None}}, "constant").split("\n")
    assert table[1].split() == ["constant", "0.000", "n/a", "n/a"]


def test_hourly_reference_entries_come_from_the_official_table(tmp_path):
    folder = require_data("m4_hourly")
    scores = m4.hourly_reference_scores(folder)
    assert scores["ES-RNN (Smyl, M4 winner)"] == pytest.approx({"smape": 9.328, "mase": 0.893, "owa": 0.440}, abs=5e-4)
    assert scores["best Hourly entry (Doornik et al.)"]["owa"] == pytest.approx(0.410, abs=5e-4)
    assert m4.hourly_reference_scores(tmp_path) == {}
