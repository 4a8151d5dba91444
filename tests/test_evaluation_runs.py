"""evaluation.runs: run configs, the cut training split, epochs to target, results.csv rows and --reuse."""

import json

import pytest

from evaluation.grids import MEDIUM_TASKS, sentiment
from evaluation.runs import (
    COLUMNS, cut_training_split, epochs_to_target, probe_unsolved_below, read_rows, reuse_rows, run_config,
    write_rows,
)


def test_run_config_applies_the_spec_and_points_data_dir_at_the_data_folder(tmp_path):
    imdb_5k = MEDIUM_TASKS[0]
    task, config = run_config(imdb_5k, "lstm", 2, str(tmp_path), units=40)
    assert task.name == "sentiment"
    assert (config["cell"], config["seed"], config["units"], config["sequence_length"]) == ("lstm", 2, 40, 200)
    assert config["data_dir"] == str(tmp_path / "imdb")
    assert "train_subset" not in config  # the harness's own key, not the task's
    with pytest.raises(ValueError, match=r"sentiment-imdb-5k: --data-dir is needed \(the folder with imdb/\)\."):
        run_config(imdb_5k, "gru", 0, None)


def test_cut_training_split_keeps_size_examples():
    spec = sentiment("tiny", 40, train_subset=40, synthetic_train_size=100, synthetic_test_size=20, batch_size=16)
    task, config = run_config(spec, "gru", 0, None)
    data = cut_training_split(task, config, 40)
    assert sum(int(labels.shape[0]) for _, labels in data.train) == 40
    assert data.description.endswith(" (training split cut to 40)")


def test_epochs_to_target_in_the_metric_direction():
    assert epochs_to_target({"val_accuracy": [0.5, 0.8, 0.9]}, ("val_accuracy", 0.8)) == 2
    assert epochs_to_target({"val_loss": [0.5, 0.3, 0.1]}, ("val_loss", 0.2)) == 3
    assert epochs_to_target({"val_loss": [0.5]}, ("val_loss", 0.2)) == ""


def test_rows_round_trip_and_probes_skip_longer_t_once_unsolved(tmp_path):
    path = tmp_path / "results.csv"
    write_rows(path, [{"run": "copy/gru/T10", "kind": "probe", "task": "copy", "cell": "gru", "length": 10,
                       "solved": False}])
    write_rows(path, [{"run": "adding/gru/T10", "kind": "probe", "task": "adding", "cell": "gru", "length": 10,
                       "solved": True}])
    rows = read_rows(path)
    assert list(rows[0]) == COLUMNS and [row["run"] for row in rows] == ["copy/gru/T10", "adding/gru/T10"]
    assert probe_unsolved_below(rows, "copy/gru/T20")
    assert not probe_unsolved_below(rows, "adding/gru/T20") and not probe_unsolved_below(rows, "copy/lstm/T20")
    assert read_rows(tmp_path / "none.csv") == []


def test_reuse_rows_copies_planned_rows_and_their_gradient_norms(tmp_path):
    source, target = tmp_path / "medium", tmp_path / "full"
    source.mkdir(), target.mkdir()
    write_rows(source / "results.csv", [
        {"run": "gradients/gru", "kind": "gradients", "cell": "gru"},
        {"run": "gradients/rnn", "kind": "gradients", "cell": "rnn"},
        {"run": "latency/gru/T50", "kind": "latency", "cell": "gru"},
    ])
    (source / "gradient_norms.json").write_text(json.dumps({"gru": {"length": 5}, "rnn": {"length": 5}}))
    reused = reuse_rows(source, target, {"gradients/gru", "gradients/rnn", "latency/gru/T50"}, {"gradients/rnn"})
    assert reused == {"gradients/gru", "latency/gru/T50"}
    assert [row["run"] for row in read_rows(target / "results.csv")] == ["gradients/gru", "latency/gru/T50"]
    assert json.loads((target / "gradient_norms.json").read_text()) == {"gru": {"length": 5}}
    with pytest.raises(FileNotFoundError, match="no results.csv there"):
        reuse_rows(tmp_path / "nowhere", target, set(), set())
