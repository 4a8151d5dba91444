"""The training loop: fit returns what it built, export writes a version, finish completes the run."""

import json

import numpy as np
import pytest
import tensorflow as tf

import zoo
import zoo.task
from zoo.layout import versions
from zoo.loading import build_from_parent, copy_weights
from zoo.training import (
    FIGURE_FILE, PARTIAL, build_optimizer, export, fine_tuning_hyperparameters, finish, fit, pretrained_encoder,
)

TINY = dict(data="synthetic", synthetic_train_size=64, synthetic_test_size=16, vocabulary_size=50,
            sequence_length=12, embedding_dim=4, units=4, epochs=1, batch_size=16)


def test_fit_returns_the_model_data_history_and_metrics_and_export_and_finish_complete_the_run(tmp_path):
    task = zoo.task.get_task("sentiment")
    config = zoo.task.resolve_config(task, **TINY)
    run = fit(task, config, output_dir=tmp_path / "runs", verbose=0)

    assert run.run_dir.name.endswith(PARTIAL) and run.run_dir.parent == tmp_path / "runs"
    assert run.config == {**config, "ngrams": 0}  # resolved: the synthetic corpus has no n-gram branch
    assert config["ngrams"] is None  # the caller's config is not rewritten
    assert len(run.history["loss"]) == 1 and run.metrics["epochs_trained"] == 1
    assert run.metrics["parameters"] == run.model.count_params()
    assert run.data.info["source"] == "synthetic"
    texts, _ = next(iter(run.data.test))
    assert run.model(texts).shape == (16, 2)

    assert json.loads((run.run_dir / "config.json").read_text()) == run.config
    options = json.loads((run.run_dir / "run.json").read_text())
    assert options["verbose"] == 0 and options["task"] == "sentiment"
    assert not set(options) & {"units", "epochs"} and "verbose" not in run.config
    assert json.loads((run.run_dir / "metrics.json").read_text()) == run.metrics
    assert (run.run_dir / FIGURE_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the task's ROC picture

    path = export(task, run, tmp_path / "saved_models")
    assert path == tmp_path / "saved_models" / "sentiment-gru" / "1"
    assert export(task, run, tmp_path / "saved_models", model_name="mine").parent.name == "mine"
    assert versions(tmp_path / "saved_models" / "sentiment-gru") == [1]

    final = finish(run)
    assert final == run.run_dir and final.name == run.run_dir.name and not final.name.endswith(PARTIAL)
    assert (final / "model.keras").exists()


def test_fit_takes_data_the_caller_built(tmp_path):
    task = zoo.task.get_task("sentiment")
    config = zoo.task.resolve_config(task, **TINY)
    data = task.build_inputs(config)
    data.train = data.train.take(1)
    run = fit(task, config, output_dir=tmp_path, verbose=0, data=data)
    assert run.data is data
    assert np.isfinite(run.history["loss"][0])


def test_init_from_copies_the_parents_vocabularies_and_weights(tmp_path):
    task = zoo.task.get_task("sentiment")
    config = zoo.task.resolve_config(task, **{**TINY, "ngrams": 2})
    parent_run = fit(task, config, output_dir=tmp_path / "runs", verbose=0)
    # Exported from its .keras file, as benchmarks/build_zoo.py does: the Bidirectional's inner
    # layers then have shorter variable paths, which copy_weights still matches.
    parent_run.model = zoo.load(parent_run.run_dir / "model.keras")
    parent = zoo.load(export(task, parent_run, tmp_path / "saved_models"))

    data = task.build_inputs(zoo.task.resolve_config(task, **{**TINY, "ngrams": 2, "seed": 1}))
    model = task.build_model(parent_run.config, data, parent=parent)
    copy_weights(parent, model)
    assert model.get_layer("vectorizer").get_vocabulary() == parent_run.model.get_layer("vectorizer").get_vocabulary()
    assert (model.get_layer("ngram_vectorizer").get_vocabulary()
            == parent_run.model.get_layer("ngram_vectorizer").get_vocabulary())
    texts = ["the plot was not good , but the cast was great .", "a dull film", ""]
    np.testing.assert_allclose(model(tf.constant(texts))["probabilities"], parent(text=texts)["probabilities"],
                               rtol=0, atol=1e-6)

    run = fit(task, parent_run.config, output_dir=tmp_path / "runs", verbose=0, data=data, init_from=parent)
    assert run.parent == {"name": "sentiment-gru", "version": 1}
    child = zoo.load(export(task, run, tmp_path / "saved_models", model_name="child"))
    assert child.metadata["parent"] == {"name": "sentiment-gru", "version": 1}


def test_init_from_a_model_of_another_architecture_is_refused(tmp_path):
    task = zoo.task.get_task("sentiment")
    parent_run = fit(task, zoo.task.resolve_config(task, **TINY), output_dir=tmp_path, verbose=0)
    parent = zoo.load(export(task, parent_run, tmp_path / "saved_models"))
    wider = {**parent_run.config, "units": 6}
    model = task.build_model(wider, parent_run.data, parent=parent)
    with pytest.raises(ValueError, match=r"--init-from .*sentiment-gru/1: its weights do not fit this model: "
                                         r"encoder_bigru_0/forward_encoder_gru_0/gru_cell/kernel \(4, 18\) "
                                         r"\(parent: \(4, 12\)\)"):
        copy_weights(parent, model)


def test_a_time_budget_stops_training_and_one_too_short_for_an_epoch_is_refused(tmp_path):
    task = zoo.task.get_task("forecasting")
    config = zoo.task.resolve_config(task, synthetic_series=8, units=8, steps_per_epoch=4, epochs=400, patience=400)
    run = fit(task, config, output_dir=tmp_path / "a", verbose=0, time_budget=4.0)
    assert 1 <= run.metrics["epochs_trained"] < 400 and run.metrics["train_seconds"] < 30
    config = zoo.task.resolve_config(task, synthetic_series=8, units=8, steps_per_epoch=20, epochs=2)
    with pytest.raises(ValueError, match=r"--budget-minutes 1e-06 ran out in the first epoch \(1 of 20 batches in "
                                         r"\d+ s\): give at least one epoch's time"):
        fit(task, config, output_dir=tmp_path / "b", verbose=0, time_budget=6e-5)
    with pytest.raises(ValueError, match="--budget-minutes 0: give a positive number of minutes"):
        fit(task, config, output_dir=tmp_path / "c", verbose=0, time_budget=0)


def test_a_language_models_encoder_is_copied_into_a_classifier_by_value(tiny_exports):
    """The embedding rows and the recurrent layer's weights, equal to the exported ones; the
    classifier's own layers keep their initial values."""
    parent = zoo.load(tiny_exports["language_model"].path)
    task = zoo.task.get_task("sentiment")
    flags = {"data": "synthetic", "synthetic_train_size": 40, "synthetic_test_size": 8, "sequence_length": 12,
             "ngrams": 0}
    config = zoo.task.resolve_config(task, **fine_tuning_hyperparameters(parent, task, flags))
    data = task.build_inputs(config)
    model = build_from_parent(task, task.resolve(config, data), data, parent)
    exported = {variable.name.removesuffix(":0"): variable.numpy() for variable in parent.variables()}
    for path in ("embedding/embeddings", "encoder_lstm_0/lstm_cell/kernel", "encoder_lstm_0/lstm_cell/recurrent_kernel",
                 "encoder_lstm_0/lstm_cell/bias"):
        np.testing.assert_array_equal(next(w for w in model.weights if w.path == path).numpy(), exported[path])
    assert model.get_layer("vectorizer").get_vocabulary()[2:] == parent.vocabularies()[0]


def test_a_classifier_fine_tuning_a_language_models_encoder_gets_ulmfits_rates(tiny_exports):
    """The head at the full rate from step 0; the recurrent layer at factor x it after one unfreeze share;
    the embedding at factor² after two; the rate warms up from 0. A share too large for the layers is refused."""
    parent = zoo.load(tiny_exports["language_model"].path)
    task = zoo.task.get_task("sentiment")
    flags = {"data": "synthetic", "synthetic_train_size": 40, "synthetic_test_size": 8, "sequence_length": 12,
             "ngrams": 0, "epochs": 2, "encoder_rate_factor": 0.5, "unfreeze_fraction": 0.25, "warmup_fraction": 0.5}
    config = zoo.task.resolve_config(task, **fine_tuning_hyperparameters(parent, task, flags))
    data = task.build_inputs(config)
    model = build_from_parent(task, task.resolve(config, data), data, parent)
    layers = pretrained_encoder(task, model, parent)
    assert [layer.name for layer in layers] == ["embedding", "encoder_lstm_0"]
    optimizer = build_optimizer(config, steps_per_epoch=4, pretrained_layers=layers)  # 8 steps
    assert optimizer.rate_scales == {
        "embedding/embeddings": (0.25, 4), "encoder_lstm_0/lstm_cell/kernel": (0.5, 2),
        "encoder_lstm_0/lstm_cell/recurrent_kernel": (0.5, 2), "encoder_lstm_0/lstm_cell/bias": (0.5, 2)}
    schedule = optimizer._learning_rate  # the head's rate by step: warm-up over 4 steps, then the cosine
    assert [float(schedule(step)) for step in (0, 2, 4)] == pytest.approx([0, config["learning_rate"] / 2,
                                                                          config["learning_rate"]])
    assert pretrained_encoder(task, model, None) == []
    with pytest.raises(ValueError, match=r"--unfreeze-fraction 0.5: with 2 pretrained layers \(embedding, "
                                         r"encoder_lstm_0\) the lowest would join after the last of the 8 steps"):
        build_optimizer({**config, "unfreeze_fraction": 0.5}, steps_per_epoch=4, pretrained_layers=layers)
