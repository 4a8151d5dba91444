"""The sentiment task: loaders, synthetic corpus, model, train.py end to end, export."""

import gzip
import json
import random

import numpy as np
import pytest
import tensorflow as tf

import train
import zoo.task
from tasks import sentiment
from tests.conftest import require_data
from zoo.export import METADATA_FILE, versions

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
    config = zoo.task.task_config(
        task, data=source, data_dir=str(tmp_path), synthetic_train_size=20, synthetic_test_size=4
    )
    assert config["ngrams"] is None
    task.build_inputs(config)
    assert config["ngrams"] == ngrams


def test_unknown_task_and_hyperparameter_are_named():
    with pytest.raises(ValueError, match=r"Unknown task 'sentimental'; choose one of \[.*'sentiment'"):
        zoo.task.create_model("sentimental")
    with pytest.raises(ValueError, match=r"Unknown hyperparameter\(s\) \['unit'\]"):
        zoo.task.create_model("sentiment", unit=3)


# ------------------------------------------------------------ train.py end to end

TINY = [
    "--epochs", "1", "--units", "8", "--embedding-dim", "8", "--sequence-length", "24",
    "--batch-size", "32", "--quiet",
]


def test_train_py_trains_evaluates_and_exports_a_raw_text_model(tmp_path, capsys):
    runs, exports = tmp_path / "runs", tmp_path / "saved_models"
    train.main(TINY + [
        "--task", "sentiment", "--cell", "gru", "--data", "synthetic", "--synthetic-train-size", "300",
        "--ngrams", "2", "--output-dir", str(runs), "--export-dir", str(exports),
    ])
    (run_dir,) = runs.iterdir()
    assert not run_dir.name.endswith(".partial")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_examples"] == 2000
    assert {"test_auc", "test_f1", "parameters", "train_seconds"} <= set(metrics)
    # the default model mixes its two branches; each one's accuracy is kept for the record
    assert 0.0 <= metrics["mixture_weight_recurrent"] <= 1.0
    assert {"test_accuracy_recurrent", "test_accuracy_ngrams"} <= set(metrics)
    assert (run_dir / "logs").is_dir() and (run_dir / "model.keras").exists()

    model_dir = exports / "sentiment-gru"
    assert versions(model_dir) == [1]
    metadata = json.loads((model_dir / "1" / "assets.extra" / METADATA_FILE).read_text())
    assert metadata["task"] == "sentiment" and metadata["config"]["cell"] == "gru"
    assert metadata["test_metrics"]["test_accuracy"] == metrics["test_accuracy"]

    serve = tf.saved_model.load(str(model_dir / "1")).signatures["serving_default"]
    outputs = serve(text=tf.constant(["the plot was not good , but the cast was great .", ""]))
    assert outputs["probabilities"].shape == (2, 2)
    assert set(outputs["label"].numpy()) <= {b"negative", b"positive"}
    empty = serve(text=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 2)
    assert "sentiment data: synthetic" in capsys.readouterr().out


def test_second_export_gets_the_next_version(tmp_path):
    args = TINY + ["--data", "synthetic", "--synthetic-train-size", "200",
                   "--output-dir", str(tmp_path / "runs"), "--export-dir", str(tmp_path / "sm")]
    train.main(args)
    train.main(args + ["--cell", "gru"])
    assert versions(tmp_path / "sm" / "sentiment-gru") == [1, 2]


def test_train_py_reports_bad_data_without_traceback(tmp_path):
    write(tmp_path / "train.csv", "words,label\na,1\n")
    write(tmp_path / "test.csv", "words,label\na,1\n")
    with pytest.raises(SystemExit, match=r"train.py: .*train.csv: no column\(s\) \['text'\]"):
        train.main(["--data", "csv", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--task", "--cell", "--data", "--data-dir", "--epochs", "--resume",
                 "--vocabulary-size", "--sequence-length", "--bidirectional"):
        assert flag in text


def test_resume_without_an_unfinished_run_says_so(tmp_path):
    with pytest.raises(SystemExit, match="--resume: no unfinished run of sentiment-lstm in"):
        train.main(["--resume", "--cell", "lstm", "--output-dir", str(tmp_path)])


def test_resume_continues_an_interrupted_run_from_its_last_epoch(tmp_path, monkeypatch):
    import keras

    runs, exports = tmp_path / "runs", tmp_path / "saved_models"
    flags = [
        "--task", "sentiment", "--data", "synthetic", "--synthetic-train-size", "200", "--units", "4",
        "--embedding-dim", "4", "--sequence-length", "16", "--batch-size", "64", "--quiet",
        "--output-dir", str(runs), "--export-dir", str(exports),
    ]

    def interrupt_after_first_epoch(self, epoch, logs=None):
        raise KeyboardInterrupt  # after BackupAndRestore (earlier in the list) saved epoch 0

    with monkeypatch.context() as patch:
        patch.setattr(keras.callbacks.TerminateOnNaN, "on_epoch_end", interrupt_after_first_epoch)
        with pytest.raises(KeyboardInterrupt):
            train.main(flags + ["--epochs", "3"])
    (partial,) = runs.iterdir()
    assert partial.name.endswith(".partial") and not exports.exists()

    train.main(flags + ["--epochs", "3", "--resume"])
    (finished,) = runs.iterdir()
    assert finished.name == partial.name.removesuffix(".partial")
    history = json.loads((finished / "history.json").read_text())
    assert len(history["loss"]) == 2  # epochs 2 and 3 only: epoch 1 came from the backup
    assert json.loads((finished / "metrics.json").read_text())["epochs_trained"] == 3
    assert (exports / "sentiment-gru" / "1").is_dir()
