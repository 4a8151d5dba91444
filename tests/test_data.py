"""zoo.data: the CSV/TSV readers every task shares, and their errors."""

import gzip

import pytest

from zoo import data


def test_a_truncated_gzip_file_is_named(tmp_path):
    path = tmp_path / "train.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("text,label\n" + "a fine film,1\n" * 2000)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=rf"{path}: cannot read \(.*"):
        data.read_table(path, ["text", "label"])
