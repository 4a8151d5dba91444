"""SavedModel exports in TF Serving's layout: `<base>/<model>/<integer version>/`.

A version is written into a hidden temporary folder beside its final place and
renamed into place only when complete, so a server watching the base folder never
sees half a version. The recurrent layers are traced under `zoo.layers.portable_loops()`:
without XLA, which TF Serving's CPU build refuses, and without cuDNN ops, which have no
CPU kernel, so a model trained on a GPU serves anywhere.

Each version carries `assets.extra/tf_serving_warmup_requests` (PredictionLog
records TF Serving replays before it serves the version) and
`assets.extra/zoo_metadata.json`. After each export `<base>/models.config` lists
every model under `<base>` for `tensorflow_model_server --model_config_file`.

    python -m zoo.export saved_models --base-path-prefix /models   # rewrite models.config
    python -m zoo.export sentiment-imdb-gru --format litert onnx    # on-device files (zoo.edge)

The command line is `zoo/export/__main__.py`.
"""

import json
import os
import pathlib
import shutil
import sys

import keras
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from zoo.layers import portable_loops
from zoo.layout import (
    METADATA_FILE,
    MODELS_CONFIG,
    SERVING_DEFAULT,
    WARMUP_FILE,
    is_shipped,
    model_names,
    read_models_config,
    remove_stale_staging,
    versions,
)


def export_saved_model(model, signatures, model_dir, metadata, serving_examples):
    """Writes the next version of `model_dir`, then `models.config` beside it; returns its path.

    Args:
      model: the Keras model whose variables the signatures use.
      signatures: `{name: (function, input_signature)}`, "serving_default" first.
      model_dir: `saved_models/<task>-<cell>`.
      metadata: JSON-serialisable dict stored as `assets.extra/zoo_metadata.json`.
      serving_examples: `{input name: array}`, a few rows for `serving_default`
        (`Task.serving_examples`), stored as the TF Serving warm-up request.
    """
    model_dir = pathlib.Path(model_dir)
    refuse_shipped_name(model_dir)
    serving_examples = {name: np.asarray(values) for name, values in serving_examples.items()}
    check_serving_examples(serving_examples, signatures[SERVING_DEFAULT][1])
    check_writable(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(model_dir)
    version = (versions(model_dir) or [0])[-1] + 1
    staging = model_dir / f".staging-{version}-{os.getpid()}"
    try:
        archive = keras.export.ExportArchive()
        # The endpoints capture the variables they use; what they cannot capture, the
        # lookup tables (TextVectorization's vocabularies), is tracked here. Tracking the
        # whole model instead stores every weight twice (keras-team/keras#23553, open).
        for table in lookup_tables(model):
            archive.track(table)
        with portable_loops():  # traced for any machine: no XLA clusters, no cuDNN ops
            for name, (function, input_signature) in signatures.items():
                archive.add_endpoint(name, function, input_signature=input_signature)
            archive.write_out(str(staging), verbose=False)
        extra = staging / "assets.extra"
        extra.mkdir(exist_ok=True)
        metadata = {**metadata, "version": version, "library_versions": library_versions()}
        (extra / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
        write_warmup_requests(extra / WARMUP_FILE, model_dir.name, serving_examples)
        final = model_dir / str(version)
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_models_config(model_dir.parent)
    return final


def check_writable(folder):
    """PermissionError naming `folder` when it cannot be created or written (nothing is created)."""
    folder = pathlib.Path(folder).absolute()
    existing = next(parent for parent in (folder, *folder.parents) if parent.exists())
    if not existing.is_dir():
        raise PermissionError(f"{folder}: cannot create this folder ({existing} is a file).")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{folder}: this folder cannot be written ({existing} is not writable).")


def refuse_shipped_name(model_dir):
    """ValueError when `model_dir` is a shipped model's folder: an export never lands in one."""
    model_dir = pathlib.Path(model_dir)
    if is_shipped(model_dir):
        raise ValueError(
            f"{model_dir} is a shipped model of the zoo; export under another name "
            "(the default is <task>-<cell>) or into another --export-dir."
        )


def lookup_tables(model):
    """The lookup tables (TF `TrackableResource`s) a Keras model holds."""
    return [
        trackable for trackable in tf.train.TrackableView(model).descendants()
        if isinstance(trackable, tf.saved_model.experimental.TrackableResource)
    ]


def check_serving_examples(examples, input_signature):
    """Raises ValueError unless `examples` has exactly the signature's inputs, in fitting shapes."""
    specs = {spec.name: spec for spec in input_signature}
    if set(examples) != set(specs):
        raise ValueError(
            f"serving examples have inputs {sorted(examples)}, but {SERVING_DEFAULT} takes "
            f"{sorted(specs)}."
        )
    for name, spec in specs.items():
        shape = tf.TensorShape(examples[name].shape)
        if not spec.shape.is_compatible_with(shape) or not shape or shape[0] == 0:
            raise ValueError(
                f"serving example {name!r} has shape {shape}; {SERVING_DEFAULT} takes "
                f"{spec.shape}, with at least one row."
            )


# ------------------------------------------------------------ warm-up requests


def write_warmup_requests(path, model_name, examples):
    """One PredictionLog record (TFRecord file) with a PredictRequest for `examples`."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SERVING_DEFAULT)
    )
    for name, values in examples.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(log.SerializeToString())


# ---------------------------------------------------------------- models.config


def write_models_config(base_dir, base_path_prefix=None, output=None):
    """Writes `<base_dir>/models.config`, a `model_config_list` of every model under `base_dir`.

    `base_path` is what the server sees: `<base_path_prefix>/<model>` (e.g. `/models`
    for a Docker volume), else the absolute folder. Without `base_path_prefix` the
    prefix already recorded in the file is kept; "" goes back to absolute paths.
    Version policies and labels already in the file are kept for models still
    present. The file is replaced atomically. Returns its path. `output`: write there
    instead (e.g. a config with this machine's absolute paths beside the shipped one).
    """
    base_dir = pathlib.Path(base_dir).resolve()
    path = base_dir / MODELS_CONFIG
    existing = {}
    if path.exists():
        try:
            old_config, old_prefix = read_models_config(path)
        except ValueError as error:
            print(f"{error} Left as it is; fix or delete it to have it rewritten.", file=sys.stderr)
            return path
        existing = {model.name: model for model in old_config.model_config_list.config}
        if base_path_prefix is None:
            base_path_prefix = old_prefix
    base_path_prefix = (base_path_prefix or "").rstrip("/")

    config = model_server_config_pb2.ModelServerConfig()
    for name in model_names(base_dir):
        model = config.model_config_list.config.add()
        if name in existing:
            model.CopyFrom(existing[name])
        model.name = name
        model.base_path = f"{base_path_prefix}/{name}" if base_path_prefix else str(base_dir / name)
        model.model_platform = "tensorflow"
    header = (
        "# TF Serving --model_config_file for the models in this folder, rewritten by each\n"
        "# export (zoo.export.write_models_config); version policies and labels are kept.\n"
    )
    if base_path_prefix:
        header += f"# base_path_prefix: {base_path_prefix}\n"
    path = pathlib.Path(output) if output else path
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(header + text_format.MessageToString(config))
    os.replace(temporary, path)
    return path


def library_versions():
    """The versions an export records (and the evaluation report names), read from the installed
    packages' metadata, so nothing is imported for them."""
    import importlib.metadata

    import zoo

    return {
        "python": sys.version.split()[0],
        **{name: importlib.metadata.version(name) for name in ("tensorflow", "keras", "scikit-learn")},
        "zoo": zoo.__version__,
    }
