"""The sentiment task: metrics, model, n-gram default by data, config resolution (loaders: test_data.py)."""

import numpy as np
import pytest
import tensorflow as tf

import zoo.task
from tasks.sentiment import task as sentiment



def write(path, text):
    path.write_text(text)
    return path


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
    write(tmp_path / "train.csv", "text,label\na fine film,1\na dull film,0\ngood,1\nbad,0\n")
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


def test_a_class_left_out_of_training_by_the_split_is_refused(tmp_path):
    write(tmp_path / "train.csv", "text,label\na fine film,1\na dull film,0\n")
    write(tmp_path / "test.csv", "text,label\ngood,1\nbad,0\n")
    task = zoo.task.get_task("sentiment")
    config = zoo.task.resolve_config(task, data="csv", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"sentiment data csv: after holding out 1 texts for validation, "
                                         r"no training text has class \['[01]'\]"):
        task.build_inputs(config)


def test_auc_is_none_not_nan_when_a_class_is_absent_from_the_test_labels():
    metrics = sentiment.classification_metrics(np.array([1, 1]), np.array([[0.2, 0.8], [0.6, 0.4]]))
    assert metrics["test_auc"] is None and metrics["test_accuracy"] == 0.5
