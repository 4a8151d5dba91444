"""Exports for TF Serving: warm-up records, models.config, `zoo.load`, saved_model_cli.

Every task in SERVING_TASKS is exported once per module from a tiny untrained model;
`tests/test_serving.py` serves the same exports.
"""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

import zoo
import zoo.task
from zoo.export import (
    MODELS_CONFIG,
    WARMUP_FILE,
    export_saved_model,
    read_models_config,
    versions,
    write_models_config,
)

# Tiny configs, one line per task: every serving test runs on each of them.
# fmt: off
SERVING_TASKS = {
    "sentiment": dict(data="synthetic", synthetic_train_size=40, synthetic_test_size=8, vocabulary_size=50, sequence_length=12, embedding_dim=4, units=4, batch_size=8, ngrams=2),  # noqa: E501
    "forecasting": dict(data="synthetic", synthetic_series=4, horizon=6, seasonality=4, input_window=12, units=4, num_layers=1, batch_size=8, quantiles="0.1,0.5,0.9"),  # noqa: E501
    "ctc_speech": dict(data="synthetic", train_utterances=8, validation_utterances=4, test_utterances=4, units=8, num_layers=1, conv_filters=8, num_mel_bins=16, subsampling=2, bidirectional=False, batch_size=4),  # noqa: E501
}
# fmt: on


@dataclasses.dataclass
class TinyExport:
    task_name: str
    model: object  # the in-memory Keras model
    serve: object  # its in-memory serving_default function
    examples: dict  # task.serving_examples: {input name: numpy array}
    path: pathlib.Path  # saved_models/<model>/<version>

    def expected(self, examples=None):
        """The in-memory model's serving_default outputs, as numpy."""
        inputs = self.examples if examples is None else examples
        outputs = self.serve(**{name: tf.constant(values) for name, values in inputs.items()})
        return {name: value.numpy() for name, value in outputs.items()}


def export_tiny(task_name, base_dir, model_name=None):
    """Builds the task's tiny model (untrained) and exports the next version of it."""
    task = zoo.task.get_task(task_name)
    config = zoo.task.task_config(task, **SERVING_TASKS[task_name])
    data = task.build_inputs(config)
    model = task.build_model(config, data)
    signatures = task.serving_signatures(model, data, config)
    examples = {name: np.asarray(values) for name, values in task.serving_examples(data, config).items()}
    path = export_saved_model(
        model,
        signatures,
        pathlib.Path(base_dir) / (model_name or f"{task_name}-tiny"),
        metadata={"task": task_name, "config": config},
        serving_examples=examples,
    )
    return TinyExport(task_name, model, signatures["serving_default"][0], examples, path)


def assert_outputs_equal(actual, expected):
    """Numbers equal to 1e-6, the rest exactly; strings as bytes (numpy) or text (JSON) alike."""
    assert set(actual) == set(expected)
    as_text = np.vectorize(lambda s: s.decode() if isinstance(s, bytes) else s, otypes=[object])
    for name, value in expected.items():
        if value.dtype.kind in "fc":
            np.testing.assert_allclose(
                np.asarray(actual[name], dtype=value.dtype), value, rtol=0, atol=1e-6
            )
        elif value.dtype == object:
            np.testing.assert_array_equal(
                as_text(np.asarray(actual[name], dtype=object)), as_text(value)
            )
        else:
            np.testing.assert_array_equal(np.asarray(actual[name], dtype=value.dtype), value)


@pytest.fixture(scope="module", params=sorted(SERVING_TASKS))
def exported(request, tmp_path_factory):
    return export_tiny(request.param, tmp_path_factory.mktemp(request.param))


# ------------------------------------------------------------------ warm-up


def test_warmup_file_holds_prediction_logs_of_the_serving_examples(exported):
    records = list(tf.data.TFRecordDataset(str(exported.path / "assets.extra" / WARMUP_FILE)))
    assert len(records) == 1
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    request = log.predict_log.request
    assert request.model_spec.name == exported.path.parent.name
    assert request.model_spec.signature_name == "serving_default"
    assert set(request.inputs) == set(exported.examples)
    for name, values in exported.examples.items():
        np.testing.assert_array_equal(tf.make_ndarray(request.inputs[name]), values)
    assert 1 <= len(next(iter(exported.examples.values()))) <= 4


def test_export_refuses_serving_examples_that_do_not_fit_the_signature(exported, tmp_path):
    signature = {"serving_default": (exported.serve, [tf.TensorSpec([None], tf.string, name="text")])}
    with pytest.raises(
        ValueError, match=r"serving examples have inputs \['txt'\], but serving_default takes \['text'\]"
    ):
        export_saved_model(exported.model, signature, tmp_path / "m", {}, {"txt": np.array([b"a"])})
    with pytest.raises(
        ValueError, match=r"serving example 'text' has shape \(1, 1\); serving_default takes \(None,\)"
    ):
        export_saved_model(exported.model, signature, tmp_path / "m", {}, {"text": np.array([[b"a"]])})
    assert versions(tmp_path / "m") == []


# ------------------------------------------------------------- models.config


def parse_models_config(base_dir):
    text = (pathlib.Path(base_dir) / MODELS_CONFIG).read_text()
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def test_models_config_lists_every_exported_model_with_absolute_paths(exported):
    base = exported.path.parent.parent
    (base / "not-a-model").mkdir(exist_ok=True)  # no versions: not listed
    write_models_config(base)
    configs = parse_models_config(base).model_config_list.config
    assert [(c.name, c.base_path, c.model_platform) for c in configs] == [
        (exported.path.parent.name, str(exported.path.parent.resolve()), "tensorflow")
    ]
    assert not [p for p in base.iterdir() if p.name.endswith(".tmp")]


def test_models_config_keeps_policies_labels_and_prefix_across_exports(tmp_path):
    for name in ("b-model", "a-model"):
        (tmp_path / name / "1").mkdir(parents=True)
    write_models_config(tmp_path, base_path_prefix="/models/")
    config = parse_models_config(tmp_path)
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [
        ("a-model", "/models/a-model"),
        ("b-model", "/models/b-model"),
    ]
    config.model_config_list.config[0].version_labels["stable"] = 1
    config.model_config_list.config[0].model_version_policy.all.SetInParent()
    (tmp_path / MODELS_CONFIG).write_text(
        "# base_path_prefix: /models\n" + text_format.MessageToString(config)
    )
    (tmp_path / "c-model" / "3").mkdir(parents=True)

    write_models_config(tmp_path)  # what the next export does
    config, prefix = read_models_config(tmp_path / MODELS_CONFIG)
    a, b, c = config.model_config_list.config
    assert prefix == "/models" and c.base_path == "/models/c-model"
    assert dict(a.version_labels) == {"stable": 1}
    assert a.model_version_policy.WhichOneof("policy_choice") == "all"
    assert b.model_version_policy.WhichOneof("policy_choice") is None

    write_models_config(tmp_path, base_path_prefix="")
    config, prefix = read_models_config(tmp_path / MODELS_CONFIG)
    assert prefix is None
    assert config.model_config_list.config[0].base_path == str((tmp_path / "a-model").resolve())


def test_unparsable_models_config_is_left_alone_with_a_warning(tmp_path, capsys):
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / MODELS_CONFIG).write_text("model_config_list { oops")
    write_models_config(tmp_path)
    assert (tmp_path / MODELS_CONFIG).read_text() == "model_config_list { oops"
    assert "models.config: not a TF Serving model config" in capsys.readouterr().err


def test_export_cli_rewrites_models_config_with_a_prefix(tmp_path, capsys):
    from zoo.export import main

    (tmp_path / "m" / "2").mkdir(parents=True)
    main([str(tmp_path), "--base-path-prefix", "/models"])
    assert 'base_path: "/models/m"' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="zoo.export: no exported models in"):
        main([str(tmp_path / "empty")])


# -------------------------------------------------------------------- loading


def test_load_gives_the_latest_version_with_metadata_and_equal_predictions(exported):
    for path in (exported.path.parent, exported.path):
        model = zoo.load(path)
        assert model.version == int(exported.path.name)
        assert model.metadata["task"] == exported.task_name
        assert model.metadata["version"] == model.version
        assert "serving_default" in model.signatures
        assert_outputs_equal(model(exported.examples), exported.expected())
        assert_outputs_equal(model(**exported.examples), exported.expected())


def test_load_keras_file_with_zoo_layers(exported, tmp_path):
    exported.model.save(tmp_path / "model.keras")
    model = zoo.load(tmp_path / "model.keras")
    inputs = {tensor.name: tf.constant(exported.examples[tensor.name]) for tensor in exported.model.inputs}
    inputs = inputs.popitem()[1] if len(inputs) == 1 else inputs
    tf.nest.map_structure(
        lambda loaded, original: np.testing.assert_allclose(loaded, original, rtol=0, atol=1e-6),
        model(inputs), exported.model(inputs),
    )


def test_load_errors_name_the_path_and_the_input(exported, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing.keras: no such .keras file"):
        zoo.load(tmp_path / "missing.keras")
    with pytest.raises(
        FileNotFoundError, match=r"neither a SavedModel \(no saved_model.pb\) nor a model folder"
    ):
        zoo.load(tmp_path)
    model = zoo.load(exported.path)
    name = sorted(exported.examples)[0]
    with pytest.raises(ValueError, match=r"signature 'serving_default' takes inputs"):
        model({"nope": [1.0]})
    with pytest.raises(
        ValueError, match=rf"Input '{name}' has shape \[1, 1, 1, 1, 1\]; the signature takes"
    ):
        model({**exported.examples, name: np.zeros((1, 1, 1, 1, 1), exported.examples[name].dtype)})
    with pytest.raises(KeyError, match=r"no signature 'nope'"):
        model(exported.examples, signature_name="nope")


# ----------------------------------------------------------- saved_model_cli


def saved_model_cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_saved_model_cli_shows_and_runs_the_export(exported, tmp_path):
    shown = saved_model_cli("show", "--dir", str(exported.path), "--all")
    assert "signature_def['serving_default']" in shown
    for name in exported.examples:
        assert f"inputs['{name}']" in shown

    inputs = []
    for name, values in exported.examples.items():
        np.save(tmp_path / f"{name}.npy", values.astype(bytes) if values.dtype == object else values)
        inputs.append(f"{name}={tmp_path / name}.npy")
    saved_model_cli(
        "run",
        "--dir",
        str(exported.path),
        "--tag_set",
        "serve",
        "--signature_def",
        "serving_default",
        "--inputs",
        ";".join(inputs),
        "--outdir",
        str(tmp_path / "out"),
    )
    outputs = {path.stem: np.load(path, allow_pickle=True) for path in (tmp_path / "out").glob("*.npy")}
    assert_outputs_equal(outputs, exported.expected())


def test_metadata_json_records_the_version(exported):
    metadata = json.loads((exported.path / "assets.extra" / "zoo_metadata.json").read_text())
    assert metadata["version"] == int(exported.path.name) and metadata["task"] == exported.task_name
