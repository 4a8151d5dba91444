"""tasks.forecasting.data: series files (wide and long CSV/TSV) and their errors."""

import numpy as np
import pytest

from tasks.forecasting import data as series_data
from tests.conftest import write_text


# ------------------------------------------------------------- series files


def test_wide_csv_with_header_and_right_padding(tmp_path):
    path = write_text(tmp_path / "train.csv", '"V1","V2","V3","V4"\n"A","1","2","3"\n"B","4","5",""\n')
    series = series_data.read_wide(path)
    assert list(series) == ["A", "B"]
    np.testing.assert_array_equal(series["B"][0], [4.0, 5.0])


def test_long_csv_is_sorted_by_time(tmp_path):
    path = write_text(
        tmp_path / "series.csv",
        "id,timestamp,value\nA,2024-01-02,2\nA,2024-01-01,1\nB,3,30\nA,2024-01-03,3\nB,1,10\n",
    )
    series = series_data.read_series_file(path, "id", "timestamp", "value")
    np.testing.assert_array_equal(series["A"][0], [1, 2, 3])
    np.testing.assert_array_equal(series["B"][0], [10, 30])


@pytest.mark.parametrize(
    "text, message",
    [
        ("A,1,x,3\n", "line 1, column 3: 'x' is not a number"),
        ("A,1,2\nB,1,nan\n", "line 2, column 3: 'nan' is not a finite number"),
        ("A,1,inf,3\n", "line 1, column 3: 'inf' is not a finite number"),
        ("A,1,,3\n", "line 1, column 3: series 'A' has an empty value between values"),
        ("A,1,2\nA,3,4\n", "line 2: series 'A' appears twice"),
        ("A,,\n", "line 1: series 'A' has no values"),
        ("", "empty file"),
    ],
)
def test_bad_wide_files_name_file_line_and_column(tmp_path, text, message):
    path = write_text(tmp_path / "train.csv", text)
    with pytest.raises(ValueError, match=message) as error:
        series_data.read_wide(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("id,time,value\nA,1,2\n", r"no column\(s\) \['timestamp'\]; the header has \['id', 'time', 'value'\]"),
        ("id,timestamp,value\nA,1,2\nA,1,3\n", "series 'A' has repeated timestamps"),
        ("id,timestamp,value\nA,1\n", "line 2: 2 fields, the header has 3"),
    ],
)
def test_bad_long_files_are_named(tmp_path, text, message):
    path = write_text(tmp_path / "series.csv", text)
    with pytest.raises(ValueError, match=message) as error:
        series_data.read_long(path, "id", "timestamp", "value")
    assert str(path) in str(error.value)


def test_short_series_and_missing_test_rows_are_named(tmp_path):
    train = {"A": (np.arange(10.0), 2), "B": (np.arange(3.0), 3)}
    with pytest.raises(ValueError, match=r"train.csv, line 3: series 'B' has 1 in-sample value\(s\) before its 2-step test"):
        series_data.split_series(train, None, 2, 1, tmp_path / "train.csv")
    with pytest.raises(ValueError, match="test.csv: no row for series 'B'"):
        series_data.split_series(train, {"A": (np.ones(2), 2)}, 2, 1, "train.csv", "test.csv")


def test_series_given_in_memory_are_checked_for_non_finite_values():
    with pytest.raises(ValueError, match="mine, line 4: series 'A' has NaN or inf values"):
        series_data.split_series({"A": (np.array([1.0, np.nan, 2.0, 3.0]), 4)}, None, 1, 1, "mine")
