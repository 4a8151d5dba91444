"""The task registry and interface: names, entry points, config resolution, create_model."""

import importlib.metadata

import keras
import pytest

import zoo
import zoo.task
from zoo.hyperparameters import shared


def test_the_four_tasks_are_registered_by_entry_point():
    assert zoo.list_tasks() == ["ctc_speech", "forecasting", "language_model", "sentiment"]
    assert zoo.list_tasks("fore*") == ["forecasting"]
    declared = {ep.name for ep in importlib.metadata.entry_points(group=zoo.task.ENTRY_POINT_GROUP)}
    assert declared >= {"sentiment", "forecasting", "ctc_speech", "language_model"}


def test_unknown_task_and_hyperparameter_are_named():
    with pytest.raises(ValueError, match=r"Unknown task 'sentimental'; choose one of \[.*'sentiment'"):
        zoo.task.create_model("sentimental")
    with pytest.raises(ValueError, match=r"Unknown hyperparameter\(s\) \['unit'\]"):
        zoo.task.create_model("sentiment", unit=3)


def test_a_task_registers_itself_without_editing_the_library(monkeypatch):
    monkeypatch.setattr(zoo.task, "TASKS", dict(zoo.task.TASKS))

    @zoo.task.register_task
    class EchoTask(zoo.task.Task):
        name = "echo"
        hyperparameters = shared(epochs=1, batch_size=2, learning_rate=1e-3, units=3, num_layers=1,
                                 bidirectional=False, dropout=0.0, patience=1)

        def build_model(self, config, data=None):
            inputs = keras.Input((5, 2))
            return keras.Model(inputs, zoo.GRU(config["units"])(inputs))

    assert "echo" in zoo.list_tasks()
    assert zoo.create_model("echo", units=7).output.shape == (None, 7)


def test_resolve_config_returns_a_new_checked_dict():
    task = zoo.task.get_task("sentiment")
    defaults = task.defaults
    config = zoo.task.resolve_config(task, units=8, learning_rate=1, data=None)
    assert config["units"] == 8 and config["learning_rate"] == 1.0 and config["data"] is None
    assert task.defaults == defaults and task.defaults["units"] == 64
    with pytest.raises(ValueError, match=r"--units '8': expected int"):
        zoo.task.resolve_config(task, units="8")


def test_resolve_fills_data_dependent_entries_without_data():
    forecasting = zoo.task.get_task("forecasting")
    config = zoo.task.resolve_config(forecasting, horizon=6, seasonality=4, chunk_length=5)
    resolved = forecasting.resolve(config)
    assert (resolved["chunk_length"], resolved["input_window"]) == (5, 60)  # 14 seasons, whole chunks
    assert config["input_window"] is None
    speech = zoo.task.get_task("ctc_speech")
    assert speech.resolve(zoo.task.resolve_config(speech, bidirectional=False))["normalization"] == "causal"
