"""A fourth task family that lives outside `tasks/`, as a third-party package's would: the sign of a
sequence's sum. Registered through the `zoo.tasks` entry point of a distribution the test writes
(tests/test_toy_task.py); the library is not edited for it.

Data (`--data`): `synthetic` (offline default) or `csv`: `--data-dir` holding `train.csv` and
`test.csv` with a column `values` (numbers separated by spaces, `--length` of them) and a column
`label` (1 when their sum is positive, else 0). Model: the values as a sequence of one feature →
a GRU/LSTM stack → softmax over the two classes.
"""

import keras
import numpy as np
import tensorflow as tf

from zoo.builders import configured_stack
from zoo.data import find_table, read_table
from zoo.hyperparameters import Hyperparameter, shared
from zoo.task import Data, Metric, Task, register_task


def synthetic_rows(count, length, seed):
    """(values, label) rows: random values, label 1 when their sum is positive."""
    values = np.random.default_rng(seed).normal(size=(count, length)).astype("float32")
    return values, (values.sum(axis=1) > 0).astype("int32")


def read_rows(folder, split, length):
    path = find_table(folder, split)
    rows = read_table(path, ["values", "label"])
    values = np.array([[float(v) for v in row["values"].split()] for row in rows], "float32")
    if values.shape[1:] != (length,):
        raise ValueError(f"{path}: each row holds {length} values (--length).")
    return values, np.array([int(row["label"]) for row in rows], "int32")


@register_task
class ToySignTask(Task):
    name = "toy_sign"
    metric = Metric("test_accuracy", higher_is_better=True, target=("val_accuracy", 0.9))
    tiny = dict(data="synthetic", synthetic_size=64, units=4, batch_size=16, epochs=2)
    comparison = {"epochs": 2}
    baseline_methods = ("majority",)
    hyperparameters = shared(
        epochs=5, batch_size=32, learning_rate=1e-2, units=8, num_layers=1, bidirectional=False,
        dropout=0.0, patience=3,
    ) + [
        Hyperparameter("length", 6, int, "values per sequence"),
        Hyperparameter("synthetic_size", 256, int, "sequences of the synthetic data (each split)"),
    ]

    def build_inputs(self, config):
        source = config["data"] or "synthetic"
        if source == "csv":
            train = read_rows(config["data_dir"], "train", config["length"])
            test = read_rows(config["data_dir"], "test", config["length"])
        elif source == "synthetic":
            train = synthetic_rows(config["synthetic_size"], config["length"], config["seed"])
            test = synthetic_rows(config["synthetic_size"], config["length"], config["seed"] + 1)
        else:
            raise ValueError(f"--data {source!r}: choose csv or synthetic.")
        cut = max(1, len(train[0]) // 5)
        batch = config["batch_size"]

        def dataset(values, labels):
            return tf.data.Dataset.from_tensor_slices((values, labels)).batch(batch)

        return Data(
            train=dataset(train[0][cut:], train[1][cut:]), validation=dataset(train[0][:cut], train[1][:cut]),
            test=dataset(*test), description=f"toy_sign data: {source}, {len(train[0])} train / {len(test[0])} test",
            info={"source": source, "train_labels": train[1][cut:].tolist()},
            settings={"data": source},
        )

    def build_model(self, config, data=None, parent=None):
        values = keras.Input((config["length"],), name="values")
        hidden = keras.layers.Reshape((config["length"], 1))(values)
        hidden = configured_stack(hidden, config, return_sequences=False)
        probabilities = keras.layers.Dense(2, activation="softmax", name="classifier")(hidden)
        return keras.Model(values, probabilities, name=f"toy_sign_{config['cell']}")

    def build_losses(self, config):
        return keras.losses.SparseCategoricalCrossentropy()

    def build_metrics(self, config):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def evaluate(self, model, data, config):
        labels = np.concatenate([y for _, y in data.test.as_numpy_iterator()])
        predictions = model.predict(data.test, verbose=0).argmax(-1)
        return {"test_accuracy": float(np.mean(predictions == labels))}

    def baseline(self, method, config, data):
        if method != "majority":
            return super().baseline(method, config, data)
        majority = np.bincount(data.info["train_labels"], minlength=2).argmax()
        labels = np.concatenate([y for _, y in data.test.as_numpy_iterator()])
        return float(np.mean(labels == majority)), 0, {}

    def serving_signatures(self, model, data, config):
        def serve(values):
            probabilities = model(values, training=False)
            return {"probabilities": probabilities, "class_id": tf.argmax(probabilities, axis=-1)}

        return {"serving_default": (serve, [tf.TensorSpec([None, config["length"]], tf.float32, name="values")])}

    def serving_examples(self, data, config):
        values, _ = next(iter(data.test))
        return {"values": values.numpy()[:3]}
