"""TF Serving's folder layout as the zoo writes and reads it: `<base>/<model>/<integer version>/`,
the files a version carries under `assets.extra/` (its metadata and warm-up requests), the base
folder's `models.config`, and the shipped models' manifest (`zoo.json`).

The readers live here, below everything that reads an export (`zoo.loading`, `zoo.catalog`,
`zoo.serving`, `zoo.edge`); the writers of a version are `zoo.export`.
"""

import json
import os
import pathlib
import re
import shutil

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

METADATA_FILE = "zoo_metadata.json"  # under assets.extra/, as TF Serving expects extras
WARMUP_FILE = "tf_serving_warmup_requests"  # under assets.extra/, the name TF Serving reads
MODELS_CONFIG = "models.config"  # in the base folder
MANIFEST = "zoo.json"  # in the shipped models' base folder: the shipped models and their files
SERVING_DEFAULT = "serving_default"
# models.config's header line recording a `--base-path-prefix`, so later exports keep it.
PREFIX_LINE = re.compile(r"^# base_path_prefix: (\S+)$", re.MULTILINE)


def versions(model_dir):
    """The integer versions present in a model folder, ascending: TF Serving's view, which serves a
    version once its files are complete and reports it in error until then."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit() and p.is_dir())


def saved_model_versions(model_dir):
    """The versions that hold a SavedModel (`saved_model.pb`): what makes a folder a model when models
    are looked up by name, so a folder such as /proc, whose subfolders are numbers, is none."""
    model_dir = pathlib.Path(model_dir)
    return [version for version in versions(model_dir) if (model_dir / str(version) / "saved_model.pb").is_file()]



def remove_stale_staging(folder, prefix=".staging-"):
    """Removes the `<prefix>...-<pid>` folders under `folder` that a killed export or conversion left
    (their process is gone); a folder being written by a live process stays."""
    for staging in pathlib.Path(folder).glob(f"{prefix}*-*"):
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


# ------------------------------------------------------------------ manifest


def read_manifest(base_dir):
    """`{model name: {"task", "cell", "files": {path in the model folder: bytes}}}` of the
    shipped models in `base_dir` (empty where there is no manifest)."""
    path = pathlib.Path(base_dir) / MANIFEST
    return json.loads(path.read_text())["models"] if path.is_file() else {}


def is_shipped(model_dir):
    """Whether `model_dir` is a shipped model: listed in the manifest of the folder it is in (the
    manifest is what marks the zoo's own models, whose files git tracks)."""
    model_dir = pathlib.Path(model_dir)
    return model_dir.name in read_manifest(model_dir.parent)


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


# ------------------------------------------------------------ warm-up requests


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
