"""train.py: the CLI composing fit, export and finish; flags generated from the task tables."""

import json

import pytest
import tensorflow as tf

import train
import zoo
import zoo.training
from zoo.layout import METADATA_FILE, versions


def write(path, text):
    path.write_text(text)
    return path


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


def test_formats_adds_the_on_device_files_to_the_export(tmp_path, capsys):
    exports = tmp_path / "sm"
    train.main(TINY + ["--data", "synthetic", "--synthetic-train-size", "200", "--formats", "litert",
                       "--output-dir", str(tmp_path / "runs"), "--export-dir", str(exports)])
    edge = exports / "sentiment-gru" / "1" / "edge"
    assert sorted(p.name for p in edge.iterdir()) == ["edge.json", "serving_default.tflite", "vocabulary.txt"]
    assert f"wrote {edge / 'serving_default.tflite'}" in capsys.readouterr().out


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


@pytest.mark.parametrize("task_name", ["sentiment", "forecasting", "ctc_speech"])
def test_help_shows_every_hyperparameter_with_its_default(task_name, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping inside a help text (textwrap splits at hyphens)
    with pytest.raises(SystemExit):
        train.main(["--task", task_name, "--help"])
    text = capsys.readouterr().out
    for row in zoo.get_task(task_name).hyperparameters:
        assert row.flag in text
        assert f"(default: {row.default_text()})" in text
    assert "(default: sentiment)" in text  # --task's own default


def test_a_flag_of_the_wrong_type_is_refused_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.main(["--epochs", "many", "--output-dir", str(tmp_path)])
    assert "--epochs: invalid int value: 'many'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--cell", "attention", "--output-dir", str(tmp_path)])
    assert "--cell: invalid choice: 'attention' (choose from" in capsys.readouterr().err
    assert not (tmp_path / "sentiment-gru").exists() and not list(tmp_path.iterdir())


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

    with pytest.raises(SystemExit, match=r"--resume .*\.partial: --units 8 \(the run has 4\); a resumed run keeps "
                                         r"its own settings"):
        train.main(flags + ["--epochs", "3", "--resume", "--units", "8"])
    assert json.loads((partial / "config.json").read_text())["units"] == 4

    train.main(["--resume", str(partial), "--quiet", "--output-dir", str(runs), "--export-dir", str(exports)])
    (finished,) = runs.iterdir()
    assert finished.name == partial.name.removesuffix(".partial")
    history = json.loads((finished / "history.json").read_text())
    assert len(history["loss"]) == 2  # epochs 2 and 3 only: epoch 1 came from the backup
    assert json.loads((finished / "metrics.json").read_text())["epochs_trained"] == 3
    assert (exports / "sentiment-gru" / "1").is_dir()

    metrics = (finished / "metrics.json").read_text()
    with pytest.raises(SystemExit, match=r"--resume .*: this run is finished \(no \.partial suffix\) and is never "
                                         r"changed; start a new run instead"):
        train.main(flags + ["--resume", str(finished)])
    assert (finished / "metrics.json").read_text() == metrics
    with pytest.raises(SystemExit, match=r"--resume .*nope\.partial: no such run folder"):
        train.main(flags + ["--resume", str(runs / "nope.partial")])


def test_resume_exports_a_run_that_trained_but_failed_to_export_without_training_again(tmp_path, monkeypatch):
    runs, exports = tmp_path / "runs", tmp_path / "saved_models"
    flags = ["--task", "forecasting", "--data", "synthetic", "--synthetic-series", "4", "--horizon", "6",
             "--seasonality", "4", "--units", "4", "--num-layers", "1", "--steps-per-epoch", "3", "--epochs", "2",
             "--quiet", "--output-dir", str(runs), "--export-dir", str(exports)]

    def unwritable(*args, **kwargs):
        raise PermissionError("saved_models: not writable")

    with monkeypatch.context() as patch:
        patch.setattr(zoo.training, "export", unwritable)  # train.py takes it from zoo.training when it runs
        with pytest.raises(SystemExit, match="not writable"):
            train.main(flags)
    (partial,) = runs.iterdir()
    metrics = (partial / "metrics.json").read_text()
    monkeypatch.setattr(zoo.training, "fit", lambda *args, **kwargs: pytest.fail("trained again"))
    train.main(flags + ["--resume"])
    (finished,) = runs.iterdir()
    assert finished.name == partial.name.removesuffix(".partial") and (finished / "metrics.json").read_text() == metrics
    assert (exports / "forecasting-gru" / "1" / "saved_model.pb").is_file()


@pytest.mark.parametrize("flags", [["--epochs", "-1"], ["--task", "forecasting", "--quantiles", "0.1,0.9"],
                                   ["--task", "language_model", "--help"], ["--resume", "x", "--init-from", "y"]])
def test_flags_are_answered_before_tensorflow_is_imported(flags):
    """A refused flag (and --help) costs the flag check, not TensorFlow's import (seconds)."""
    import subprocess
    import sys

    script = ("import sys, train\n"
              "try:\n    train.main(sys.argv[1:])\nexcept SystemExit as exit:\n    print(exit.code)\n"
              "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script, *flags], capture_output=True, text=True, timeout=120,
                            cwd=train.__file__.rsplit("/", 1)[0])
    assert result.stdout.strip().splitlines()[-1] == "False False", result.stdout + result.stderr


def test_resume_and_init_from_together_are_refused_by_name(tmp_path):
    with pytest.raises(SystemExit, match=r"train.py: --resume continues an unfinished run with its own settings and "
                                         r"weights; --init-from starts a new run from a model's: give one of them."):
        train.main(["--resume", str(tmp_path / "run.partial"), "--init-from", "sentiment-imdb-gru"])


def test_init_from_an_unknown_name_lists_the_known_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"train.py: no model named 'sentiment-imbd-gru'; known models: \["):
        train.main(["--init-from", "sentiment-imbd-gru", "--output-dir", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()


def test_init_from_a_model_of_another_task_is_refused(tiny_exports, tmp_path):
    forecaster = tiny_exports["forecasting"].path.parent
    with pytest.raises(SystemExit, match=rf"train.py: --init-from {forecaster}: it is a forecasting model, which has "
                                         r"no encoder for --task sentiment; sentiment starts from a model of "
                                         r"sentiment or language_model"):
        train.main(["--task", "sentiment", "--init-from", str(forecaster), "--output-dir", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_fine_tuning_from_an_export_records_its_parent_in_metadata_and_card(tmp_path):
    runs, exports = tmp_path / "runs", tmp_path / "saved_models"
    train.main(TINY + ["--data", "synthetic", "--synthetic-train-size", "200", "--ngrams", "2",
                       "--output-dir", str(runs), "--export-dir", str(exports)])
    rows = "".join(f"{text},{label}\n" for text, label in [("a fine film", "positive"), ("a dull film", "negative")] * 20)
    (tmp_path / "csv").mkdir()
    write(tmp_path / "csv" / "train.csv", "text,label\n" + rows)
    write(tmp_path / "csv" / "test.csv", "text,label\n" + rows)
    train.main(["--init-from", str(exports / "sentiment-gru"), "--data", "csv", "--data-dir", str(tmp_path / "csv"),
                "--epochs", "1", "--quiet", "--output-dir", str(runs), "--export-dir", str(exports)])
    child = zoo.load(exports / "sentiment-gru")
    assert child.version == 2 and child.metadata["parent"] == {"name": "sentiment-gru", "version": 1}
    assert child.metadata["config"]["units"] == 8 and child.metadata["config"]["ngrams"] == 2  # the parent's
    card = (exports / "sentiment-gru" / "README.md").read_text()
    assert "fine-tuned from | `sentiment-gru` version 1" in card
    assert (exports / "sentiment-gru" / "figure.png").exists()


def test_a_classifier_fine_tunes_from_a_language_models_encoder(tiny_exports, tmp_path):
    """Its words, embedding and recurrent layer, with the encoder's settings; the rest is the classifier's own."""
    language_model = tiny_exports["language_model"].path.parent
    runs, exports = tmp_path / "runs", tmp_path / "saved_models"
    train.main(["--task", "sentiment", "--init-from", str(language_model), "--data", "synthetic",
                "--synthetic-train-size", "100", "--sequence-length", "24", "--batch-size", "32", "--epochs", "1",
                "--quiet", "--output-dir", str(runs), "--export-dir", str(exports)])
    child, parent = zoo.load(exports / "sentiment-lstm"), zoo.load(language_model)
    assert child.metadata["parent"] == {"name": language_model.name, "version": 1}
    encoder = {name: parent.metadata["config"][name] for name in
               ("cell", "units", "num_layers", "bidirectional", "embedding_dim", "vocabulary_size")}
    assert {name: child.metadata["config"][name] for name in encoder} == encoder
    assert child.vocabularies()[0] == parent.vocabularies()[0]
    assert "fine-tuned from | `language_model-tiny` version 1" in (exports / "sentiment-lstm" / "README.md").read_text()


@pytest.mark.parametrize("flags, message", [
    (["--task", "sentiment", "--units", "16"], r"--units 16, but its encoder has 8; a model that takes a "
     r"language_model's encoder keeps its cell, units, num_layers, bidirectional, embedding_dim, vocabulary_size"),
    (["--task", "sentiment", "--bidirectional"], "--bidirectional True, but its encoder has False"),
    (["--task", "forecasting"], "it is a language_model model, which has no encoder for --task forecasting"),
])
def test_a_model_that_cannot_take_the_language_models_encoder_is_refused_before_training(
        tiny_exports, tmp_path, flags, message):
    language_model = tiny_exports["language_model"].path.parent
    with pytest.raises(SystemExit, match=message):
        train.main([*flags, "--init-from", str(language_model), "--output-dir", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "--epochs 0: must be > 0"),
    (["--epochs", "-1"], "--epochs -1: must be > 0"),
    (["--epochs", "99999999999999999999"], "--epochs 99999999999999999999: must be at most 100,000"),
    (["--units", "4294967296"], "--units 4294967296: must be at most 2,147,483,647"),
    (["--learning-rate", "-1"], "--learning-rate -1.0: must be > 0"),
    (["--learning-rate", "nan"], "--learning-rate nan: must be a finite number"),
    (["--batch-size", "0"], "--batch-size 0: must be > 0"),
    (["--dropout", "1.5"], r"--dropout 1.5: must be in \[0, 1\)"),
    (["--task", "forecasting", "--horizon", "-3"], "--horizon -3: must be > 0"),
    (["--task", "forecasting", "--seasonality", "0"], "--seasonality 0: must be > 0"),
    (["--task", "forecasting", "--quantiles", "0.1,0.9"], r"--quantiles '0.1,0.9': each must lie in \(0, 1\), and 0.5"),
    # Keras's own recurrent layers have no on-device form: refused before training, not after it.
    *[(["--task", "forecasting", "--cell", cell, "--formats", "litert"],
       f"--formats litert: --cell {cell} is Keras's built-in layer") for cell in ("rnn", "keras_gru", "keras_lstm")],
])
def test_impossible_settings_are_refused_before_any_data_is_read(flags, message, tmp_path):
    with pytest.raises(SystemExit, match=f"train.py: {message}"):
        train.main(flags + ["--data-dir", str(tmp_path / "missing"), "--output-dir", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()
