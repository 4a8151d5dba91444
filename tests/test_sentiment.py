"""The sentiment task: loaders, synthetic corpus, metrics, model, config resolution."""

import gzip
import random

import numpy as np
import pytest
import tensorflow as tf

import zoo.task
from tasks import sentiment
from tests.conftest import require_data

# ------------------------------------------------------------------- loaders


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_csv_folder_with_three_classes_and_gzip(tmp_path):
    write(tmp_path / "train.csv", 'text,label\n"good, really",pos\nbad,neg\nmeh,neutral\n')
    with gzip.open(tmp_path / "test.tsv.gz", "wt") as handle:
        handle.write("text\tlabel\nfine\tpos\n")
    train_rows, test_rows, classes = sentiment.load_csv(tmp_path, "text", "label")
    assert classes == ["neg", "neutral", "pos"]
    assert train_rows == [("good, really", 2), ("bad", 0), ("meh", 1)]
    assert test_rows == [("fine", 2)]


def test_numeric_labels_sort_numerically(tmp_path):
    write(tmp_path / "train.csv", "review,stars\na,10\nb,2\nc,1\n")
    write(tmp_path / "test.csv", "review,stars\nd,2\n")
    _, _, classes = sentiment.load_csv(tmp_path, "review", "stars")
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
    write(tmp_path / "train.csv", content)
    write(tmp_path / "test.csv", "text,label\na,1\n")
    with pytest.raises(ValueError, match=message):
        sentiment.load_csv(tmp_path, "text", "label")


def test_unknown_test_label_names_file_row_and_column(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,pos\nb,neg\n")
    write(tmp_path / "test.csv", "text,label\nc,pos\nd,mixed\n")
    with pytest.raises(ValueError, match=r"test.csv, row 3: label 'mixed' in column 'label' is not one of"):
        sentiment.load_csv(tmp_path, "text", "label")


def test_missing_folder_files_are_listed(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train file in .*train.csv, train.tsv"):
        sentiment.load_csv(tmp_path, "text", "label")


def test_aclimdb_layout(tmp_path):
    for split in ("train", "test"):
        for folder, text in (("pos", "loved it"), ("neg", "hated it")):
            (tmp_path / "aclImdb" / split / folder).mkdir(parents=True)
            write(tmp_path / "aclImdb" / split / folder / "0_9.txt", text)
    assert sentiment.imdb_is_available(tmp_path)
    train_rows, test_rows = sentiment.load_imdb(tmp_path)
    assert sorted(train_rows) == [("hated it", 0), ("loved it", 1)]
    assert len(test_rows) == 2


def test_shared_imdb_csv_has_official_split():
    folder = require_data("imdb")
    train_rows, test_rows = sentiment.load_imdb(folder)
    assert len(train_rows) == len(test_rows) == 25000
    assert sum(label for _, label in train_rows) == sum(label for _, label in test_rows) == 12500
    assert all(isinstance(text, str) and text for text, _ in train_rows[:100])


# ---------------------------------------------------------------- synthetic


def test_synthetic_corpus_is_seeded_and_balanced():
    first, _ = sentiment.synthetic_corpus(500, 10, seed=3)
    again, _ = sentiment.synthetic_corpus(500, 10, seed=3)
    assert first == again
    assert 200 < sum(label for _, label in first) < 300


def test_synthetic_contrast_reviews_hold_both_polarities():
    """In contrast reviews, both polarities' words occur: counts alone can't decide."""
    rng = random.Random(0)
    contrast = [r for r in (sentiment.synthetic_review(rng) for _ in range(300)) if " but " in r[0]]
    assert contrast
    for text, _ in contrast:
        words = set(text.split())
        has_positive = bool(words & set(sentiment.POSITIVE))
        has_negative = bool(words & set(sentiment.NEGATIVE))
        negated = bool(words & set(sentiment.NEGATORS))
        assert (has_positive and has_negative) or negated


def test_label_follows_the_clause_after_but():
    rng = random.Random(1)
    for _ in range(200):
        text, label = sentiment.synthetic_review(rng)
        if " but " not in text:
            continue
        clause = text.split(" but ")[1].split(" .")[0].split()
        word = clause[-1]
        polarity = 1 if word in sentiment.POSITIVE else -1
        if set(clause) & set(sentiment.NEGATORS):
            polarity = -polarity
        assert label == int(polarity > 0)


# --------------------------------------------------------------- metrics


def test_three_class_metrics_use_one_vs_rest_auc_and_macro_f1():
    labels = np.array([0, 1, 2])
    result = sentiment.classification_metrics(labels, np.eye(3) * 0.8 + 0.2 / 3)
    assert result == {"test_accuracy": 1.0, "test_auc": 1.0, "test_f1": 1.0, "test_examples": 3}


def test_classification_metrics_on_a_constructed_case():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    result = sentiment.classification_metrics(labels, probabilities)
    assert result["test_accuracy"] == 0.75
    assert result["test_auc"] == 1.0
    assert result["test_f1"] == pytest.approx(0.8)


# -------------------------------------------------------- registry and model


def test_create_model_takes_raw_strings():
    model = zoo.task.create_model(
        "sentiment", cell="lstm", units=8, embedding_dim=8, sequence_length=12, ngrams=0
    )
    probabilities = model(tf.constant(["a fine film", ""]))
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.numpy().sum(-1), 1.0, rtol=1e-6)


def test_default_model_mixes_a_recurrent_and_an_ngram_branch():
    model = zoo.task.create_model("sentiment", units=8, embedding_dim=8, sequence_length=12)
    outputs = model(tf.constant(["a fine film", ""]))
    assert set(outputs) == {"probabilities", "recurrent", "ngrams"}
    for probabilities in outputs.values():
        assert probabilities.shape == (2, 2)
        np.testing.assert_allclose(probabilities.numpy().sum(-1), 1.0, rtol=1e-6)
    weight = model.get_layer("mixture").weight.numpy()
    np.testing.assert_allclose(
        outputs["probabilities"], weight * outputs["recurrent"] + (1 - weight) * outputs["ngrams"], atol=1e-7
    )


@pytest.mark.parametrize("source, ngrams", [("synthetic", 0), ("csv", sentiment.NGRAMS_ON_TEXT)])
def test_ngram_branch_by_default_on_real_text_only(tmp_path, source, ngrams):
    write(tmp_path / "train.csv", "text,label\na fine film,1\na dull film,0\n")
    write(tmp_path / "test.csv", "text,label\ngood,1\n")
    task = zoo.task.get_task("sentiment")
    config = zoo.task.resolve_config(
        task, data=source, data_dir=str(tmp_path), synthetic_train_size=20, synthetic_test_size=4
    )
    assert config["ngrams"] is None
    resolved = task.resolve(config, task.build_inputs(config))
    assert resolved["ngrams"] == ngrams and resolved["data"] == source
    assert config["ngrams"] is None  # resolving returns a new dict


def test_create_model_resolves_the_config_as_training_does():
    task = zoo.task.get_task("sentiment")
    assert task.resolve(zoo.task.resolve_config(task))["ngrams"] == sentiment.NGRAMS_ON_TEXT
    model = zoo.task.create_model("sentiment", units=4, embedding_dim=4, sequence_length=8)
    assert model.name == "sentiment_gru_ngrams"
