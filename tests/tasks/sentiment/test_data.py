"""tasks.sentiment.data: IMDB and labelled CSV/TSV texts, and their errors."""

import gzip

import pytest

from tasks.sentiment.data import imdb_is_available, load_imdb, load_labelled_csv
from tests.conftest import require_data, write_text


# ------------------------------------------------------- labelled text files


def test_csv_folder_with_three_classes_and_gzip(tmp_path):
    write_text(tmp_path / "train.csv", 'text,label\n"good, really",pos\nbad,neg\nmeh,neutral\n')
    with gzip.open(tmp_path / "test.tsv.gz", "wt") as handle:
        handle.write("text\tlabel\nfine\tpos\n")
    train_rows, test_rows, classes = load_labelled_csv(tmp_path, "text", "label")
    assert classes == ["neg", "neutral", "pos"]
    assert train_rows == [("good, really", 2), ("bad", 0), ("meh", 1)]
    assert test_rows == [("fine", 2)]


def test_numeric_labels_sort_numerically(tmp_path):
    write_text(tmp_path / "train.csv", "review,stars\na,10\nb,2\nc,1\n")
    write_text(tmp_path / "test.csv", "review,stars\nd,2\n")
    _, _, classes = load_labelled_csv(tmp_path, "review", "stars")
    assert classes == ["1", "2", "10"]


@pytest.mark.parametrize("content, message", [
    ("", r"train.csv: empty file; expected a header with columns \['text', 'label'\]"),
    ("text,stars\na,1\n", r"train.csv: no column\(s\) \['label'\]; the header has \['text', 'stars'\]"),
    ("text,label\n", "train.csv: header only, no data rows"),
    ("text,label\na\n", "train.csv, row 2: too few fields"),
    ("text,label\na,1\nb,1\n", "column 'label' has one label"),
    (b"text,label\na,1\n\xff\xfe bad,0\n", "train.csv, line 3: bytes that are not UTF-8"),
])
def test_bad_training_files_are_named(tmp_path, content, message):
    write_text(tmp_path / "train.csv", content)
    write_text(tmp_path / "test.csv", "text,label\na,1\n")
    with pytest.raises(ValueError, match=message):
        load_labelled_csv(tmp_path, "text", "label")


def test_unknown_test_label_names_file_row_and_column(tmp_path):
    write_text(tmp_path / "train.csv", "text,label\na,pos\nb,neg\n")
    write_text(tmp_path / "test.csv", "text,label\nc,pos\nd,mixed\n")
    with pytest.raises(ValueError, match=r"test.csv, row 3: label 'mixed' in column 'label' is not one of"):
        load_labelled_csv(tmp_path, "text", "label")


def test_missing_folder_files_are_listed(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train file in .*train.csv, train.tsv"):
        load_labelled_csv(tmp_path, "text", "label")


def test_aclimdb_layout(tmp_path):
    for split in ("train", "test"):
        for folder, text in (("pos", "loved it"), ("neg", "hated it")):
            (tmp_path / "aclImdb" / split / folder).mkdir(parents=True)
            write_text(tmp_path / "aclImdb" / split / folder / "0_9.txt", text)
    assert imdb_is_available(tmp_path)
    train_rows, test_rows = load_imdb(tmp_path)
    assert sorted(train_rows) == [("hated it", 0), ("loved it", 1)]
    assert len(test_rows) == 2


def test_shared_imdb_csv_has_official_split():
    folder = require_data("imdb")
    train_rows, test_rows = load_imdb(folder)
    assert len(train_rows) == len(test_rows) == 25000
    assert sum(label for _, label in train_rows) == sum(label for _, label in test_rows) == 12500
    assert all(isinstance(text, str) and text for text, _ in train_rows[:100])


def test_labels_written_two_ways_and_empty_texts_are_refused(tmp_path):
    write_text(tmp_path / "train.csv", "text,label\na,1\nb,1.0\nc,pos\nd,Positive\ne,0\n")
    write_text(tmp_path / "test.csv", "text,label\na,1\n")
    with pytest.raises(ValueError, match=r"train.csv: labels in column 'label' that look like one class written "
                                         r"two ways: '1' and '1.0'; 'Positive' and 'pos'. Write each class one way."):
        load_labelled_csv(tmp_path, "text", "label")
    write_text(tmp_path / "train.csv", "text,label\n ,1\n,0\n")
    with pytest.raises(ValueError, match=r"train.csv: every text in column 'text' is empty"):
        load_labelled_csv(tmp_path, "text", "label")


def test_a_data_dir_that_is_a_file_says_give_its_folder(tmp_path):
    write_text(tmp_path / "train.csv", "text,label\na,1\nb,0\n")
    with pytest.raises(FileNotFoundError, match=rf"--data-dir .*train.csv is a file; give the folder that holds it "
                                                rf"\(and the other split\): {tmp_path}\."):
        load_labelled_csv(tmp_path / "train.csv", "text", "label")  # was: "no train file in .../train.csv"

