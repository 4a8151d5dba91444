"""The language model's texts: sources, held-out splits, IMDB without its test reviews, word windows."""

import gzip

import pytest

import zoo.task
from tasks.language_model.corpus import BOUNDARY, imdb_texts, read_texts, word_windows
from tests.conftest import require_data


def config(**overrides):
    return zoo.task.resolve_config(zoo.task.get_task("language_model"), **overrides)


def write_csv(path, header, rows):
    lines = [",".join(header)] + [",".join(row) for row in rows]
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def test_windows_cover_the_stream_each_word_after_the_first_a_target_once():
    windows, words = word_windows(["One two, three!", "Four five"], window_length=3, split="train")
    stream = f"{BOUNDARY} one two three {BOUNDARY} four five".split()
    assert words == len(stream) == 7
    assert [window.decode().split() for window in windows] == [stream[0:4], stream[3:7]]
    windows, _ = word_windows(["a b c d e"], window_length=4, split="train")  # 6 words: one full, one short
    assert [window.decode() for window in windows] == [f"{BOUNDARY} a b c d", "d e"]


def test_texts_without_two_words_are_refused():
    with pytest.raises(ValueError, match=r"language_model validation texts: 1 word\(s\) in all"):
        word_windows(["!!!"], window_length=5, split="validation")


def test_held_out_texts_are_disjoint_and_at_least_one_each():
    texts = read_texts(config(data="synthetic", synthetic_texts=50))
    assert (len(texts.train), len(texts.validation), len(texts.test)) == (48, 1, 1)
    assert texts.source == "synthetic"
    with pytest.raises(ValueError, match="2 texts leave none to train on"):
        read_texts(config(data="synthetic", synthetic_texts=2))


def test_imdb_reads_train_and_unlabelled_reviews_and_drops_the_test_reviews(tmp_path):
    write_csv(tmp_path / "train.csv", ["text", "label"], [["good film", "1"], ["bad film", "0"]])
    write_csv(tmp_path / "test.csv", ["text", "label"], [["seen in test", "1"], ["other", "0"]])
    write_csv(tmp_path / "unsup.csv.gz", ["text"], [["no label here"], ["seen in test"]])
    texts, note = imdb_texts(tmp_path)
    assert sorted(texts) == ["bad film", "good film", "no label here"]
    assert note == "IMDB: 2 train + 2 unlabelled reviews; dropped as also test reviews: 0 train and 1 unlabelled"
    (tmp_path / "unsup.csv.gz").unlink()
    assert "no unsup file" in imdb_texts(tmp_path)[1]


def test_csv_texts_hold_out_validation_and_take_the_test_file(tmp_path):
    write_csv(tmp_path / "train.csv", ["review"], [[f"text number {k}"] for k in range(20)])
    write_csv(tmp_path / "test.csv", ["review"], [["a test text"]])
    texts = read_texts(config(data="csv", data_dir=str(tmp_path), text_column="review"))
    assert texts.test == ["a test text"] and len(texts.train) == 19 and len(texts.validation) == 1
    with pytest.raises(ValueError, match=r"train.csv: no column\(s\) \['text'\]; the header has \['review'\]"):
        read_texts(config(data="csv", data_dir=str(tmp_path)))


def test_the_real_imdb_drops_every_review_that_is_also_a_test_review():
    """270 unlabelled reviews (SOURCE-unsup.md) and 123 train reviews are test reviews too."""
    folder = require_data("imdb", "unsup.csv.gz")
    texts, note = imdb_texts(folder.parent)
    assert note == ("IMDB: 25000 train + 50000 unlabelled reviews; dropped as also test reviews: 123 train and "
                    "270 unlabelled")
    assert len(texts) == 75000 - 393
