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
import re
import shutil
import sys

import keras
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from zoo.layers import portable_loops

METADATA_FILE = "zoo_metadata.json"  # under assets.extra/, as TF Serving expects extras
WARMUP_FILE = "tf_serving_warmup_requests"  # under assets.extra/, the name TF Serving reads
MODELS_CONFIG = "models.config"  # in the base folder
MANIFEST = "zoo.json"  # in the shipped models' base folder: the shipped models and their files
SERVING_DEFAULT = "serving_default"
# models.config's header line recording a `--base-path-prefix`, so later exports keep it.
PREFIX_LINE = re.compile(r"^# base_path_prefix: (\S+)$", re.MULTILINE)


def versions(model_dir):
    """The integer versions present in a model folder, ascending."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit() and p.is_dir())


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


def remove_stale_staging(model_dir):
    """Removes `.staging-*` folders a killed export left (their process is gone)."""
    for staging in pathlib.Path(model_dir).glob(".staging-*-*"):
        pid = staging.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def read_manifest(base_dir):
    """`{model name: {"task", "cell", "files": {path in the model folder: bytes}}}` of the
    shipped models in `base_dir` (empty where there is no manifest)."""
    path = pathlib.Path(base_dir) / MANIFEST
    return json.loads(path.read_text())["models"] if path.is_file() else {}


def write_manifest(base_dir, models):
    """Writes `<base_dir>/zoo.json` for `{model name: {"task", "cell", ...}}`, adding the size
    of every file under each model's folder (what a complete clone must hold)."""
    base_dir = pathlib.Path(base_dir)
    entries = {}
    for name, entry in sorted(models.items()):
        entries[name] = {**entry, "files": file_sizes(base_dir / name)}
    path = base_dir / MANIFEST
    path.write_text(json.dumps({"models": entries}, indent=1) + "\n")
    return path


def refresh_manifest_entry(model_dir):
    """After a change inside a shipped model (its on-device files): its manifest entry lists
    its files and sizes again; other models' entries are left as they are."""
    model_dir = pathlib.Path(model_dir)
    path = model_dir.parent / MANIFEST
    document = json.loads(path.read_text()) if path.is_file() else {"models": {}}
    if model_dir.name in document["models"]:
        document["models"][model_dir.name]["files"] = file_sizes(model_dir)
        path.write_text(json.dumps(document, indent=1) + "\n")


def file_sizes(model_dir):
    """`{path in the model folder: bytes}` of every file under it."""
    model_dir = pathlib.Path(model_dir)
    return {str(p.relative_to(model_dir)): p.stat().st_size for p in sorted(model_dir.rglob("*")) if p.is_file()}


def refuse_shipped_name(model_dir):
    """ValueError when `model_dir` is a shipped model's folder: an export never lands in one."""
    model_dir = pathlib.Path(model_dir)
    if model_dir.name in read_manifest(model_dir.parent):
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


def read_warmup_requests(version_dir):
    """The PredictRequests in a version's warm-up file, as `[(signature name, {input: array})]`."""
    path = pathlib.Path(version_dir) / "assets.extra" / WARMUP_FILE
    if not path.exists():
        return []
    requests = []
    for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        requests.append((request.model_spec.signature_name or SERVING_DEFAULT, inputs))
    return requests


# ---------------------------------------------------------------- models.config


def model_names(base_dir):
    """The model folders under `base_dir` that hold at least one version, sorted."""
    base_dir = pathlib.Path(base_dir)
    if not base_dir.is_dir():
        return []
    return sorted(p.name for p in base_dir.iterdir() if not p.name.startswith(".") and versions(p))


def read_models_config(path):
    """`(ModelServerConfig, base_path_prefix or None)` from a models.config file."""
    text = pathlib.Path(path).read_text()
    try:
        config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as error:
        raise ValueError(f"{path}: not a TF Serving model config ({error}).") from None
    prefix = PREFIX_LINE.search(text)
    return config, prefix.group(1) if prefix else None


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
    import sklearn

    import zoo

    return {
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "scikit-learn": sklearn.__version__,
        "zoo": zoo.__version__,
    }
