"""Exports for TF Serving: warm-up records, models.config, shipped names, saved_model_cli.

Every task in conftest's SERVING_TASKS is exported once per module from a tiny untrained
model (`export_tiny`); tests/test_loading.py and test_serving_*.py use the same exports.
"""

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

from tests.conftest import SERVING_TASKS, assert_outputs_equal, export_tiny
from zoo.export import export_saved_model, write_models_config
from zoo.layout import MODELS_CONFIG, WARMUP_FILE, read_models_config, versions


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
    from zoo.export.__main__ import main

    (tmp_path / "m" / "2").mkdir(parents=True)
    main([str(tmp_path), "--base-path-prefix", "/models"])
    assert 'base_path: "/models/m"' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="zoo.export: no exported models in"):
        main([str(tmp_path / "empty")])


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


def test_each_weight_is_stored_once(exported):
    # keras-team/keras#23553: tracking the whole model stores every weight twice; the export
    # tracks only the lookup tables, so the checkpoint holds the model's parameters once.
    reader = tf.train.load_checkpoint(str(exported.path / "variables" / "variables"))
    stored = sum(int(np.prod(shape)) for key, shape in reader.get_variable_to_shape_map().items()
                 if key.endswith("VARIABLE_VALUE"))
    assert exported.model.count_params() <= stored <= exported.model.count_params() + 2


def test_export_cli_writes_a_local_config_elsewhere_and_leaves_the_committed_one(tmp_path, capsys):
    from zoo.export.__main__ import main

    (tmp_path / "m" / "1").mkdir(parents=True)
    main([str(tmp_path), "--base-path-prefix", "/models"])
    committed = (tmp_path / MODELS_CONFIG).read_text()
    main([str(tmp_path), "--base-path-prefix", str(tmp_path), "--output", str(tmp_path / "local.config")])
    assert f'base_path: "{tmp_path}/m"' in (tmp_path / "local.config").read_text()
    assert (tmp_path / MODELS_CONFIG).read_text() == committed


def test_an_export_removes_what_a_killed_export_left_and_names_a_folder_it_cannot_write(tmp_path):
    from zoo.export import check_writable
    from zoo.layout import remove_stale_staging

    model_dir = tmp_path / "m"
    stale = model_dir / ".staging-1-999999999"  # its process is gone
    (stale / "variables").mkdir(parents=True)
    running = model_dir / f".staging-7-{os.getpid()}"  # a running export's: kept
    running.mkdir()
    remove_stale_staging(model_dir)
    assert not stale.exists() and running.exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(PermissionError, match=rf"{tmp_path}/file/saved_models: cannot create this folder "
                                              rf"\({tmp_path}/file is a file\)"):
        check_writable(tmp_path / "file" / "saved_models")
    check_writable(tmp_path / "new" / "saved_models")
    assert not (tmp_path / "new").exists()  # checking creates nothing
