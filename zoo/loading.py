"""Load an exported model to predict with it: `zoo.load(path)`.

`path` is one of
  - a model's name (`"sentiment-imdb-gru"`): a shipped model, or one of yours in
    `$ZOO_MODEL_DIR` or `./saved_models` (`zoo.catalog`; `zoo.list_models()` lists them);
  - a `.keras` file (`runs/<run>/model.keras`): the Keras model itself;
  - a SavedModel version folder (`saved_models/<model>/<version>/`);
  - a model folder (`saved_models/<model>/`): its latest version.

A SavedModel comes back as a `SavedModel`: call it with `{input: values}` or
keywords to run `serving_default` (or `signature_name=`) and get `{output: numpy
array}`. It also carries `.signatures`, `.metadata` (`zoo_metadata.json`),
`.version` and the `SignatureDef`s TF Serving reports. `zoo serve` runs the same
objects.

    model = zoo.load("sentiment-imdb-gru")               # or "saved_models/sentiment-gru"
    model(text=["a fine film"])["probabilities"]        # (1, 2)

Inputs are checked against a signature in one place, `Signature.check`: missing
or unknown names, dtype, shape and, for `zoo serve`, an empty batch. A call here
and a request to either of `zoo serve`'s APIs go through it alike.
"""

import collections
import json
import pathlib
import zipfile

import keras
import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2

import zoo.builders  # noqa: F401  (registers the library's own Keras objects)
import zoo.optimizers  # noqa: F401  (a fine-tuned run's .keras file holds its LayerwiseAdam)
from zoo import catalog
from zoo.guards import readable
from zoo.layout import METADATA_FILE, SERVING_DEFAULT, is_shipped, saved_model_versions
from zoo.task import get_task, list_tasks, resolve_config, stored_config


def load(path):
    """The model at `path` or of that name (see the module docstring); raises
    FileNotFoundError naming `path`, or the known models for an unknown name."""
    path = pathlib.Path(path)
    if is_model_name(path):
        path = catalog.find_model(str(path))
    if path.suffix == ".keras":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such .keras file.")
        if not zipfile.is_zipfile(path):  # Keras would say "File not found" of a file that is there
            raise ValueError(f"{path}: not a .keras file (not a zip archive); a .keras file is the zip Keras's "
                             "model.save writes (a run's model.keras).")
        list_tasks()  # imports every registered task's package, which registers its Keras objects
        try:
            return keras.saving.load_model(path)
        except (ValueError, OSError, KeyError, EOFError) as error:
            raise ValueError(f"{path}: not a readable .keras file ({_first_line(error)}); a .keras file is the "
                             "zip Keras's model.save writes (a run's model.keras).") from None
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such SavedModel folder or .keras file.")
    if not (path / "saved_model.pb").exists():
        found = saved_model_versions(path)
        if not found:
            raise FileNotFoundError(
                f"{path}: neither a SavedModel (no saved_model.pb) nor a model folder with "
                "integer version subfolders holding one."
            )
        path = path / str(found[-1])
    return SavedModel(path)


def copy_weights(parent, model, layers=None):
    """Assigns `parent`'s exported variables to `model`'s weights of the same layer path (e.g.
    `embedding/embeddings`; a path may lack its outer layers' prefix, as after a .keras round
    trip a Bidirectional's inner layers do). Every trainable weight of `model` must find one,
    of its shape, or, with `layers` (prefixes of layer names: an encoder another task gives),
    every weight of those layers; ValueError naming the first misfits otherwise. A parent holding
    several variables of one path (an ensemble of models in one SavedModel) is refused: which
    member a variable belongs to is not recorded."""
    names = [variable.name.removesuffix(":0") for variable in parent.variables()]
    counts = collections.Counter(names)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise ValueError(
            f"{parent.path}: it holds {counts[repeated[0]]} variables named {repeated[0]} (an ensemble of "
            f"models in one SavedModel{', ' + str(len(repeated)) + ' paths so' if len(repeated) > 1 else ''}), and "
            "which member each belongs to is not recorded, so they cannot be copied into one model; start from a "
            "single model's export."
        )
    theirs = dict(zip(names, parent.variables()))

    def match(path):
        found = [name for name in theirs if name == path or path.endswith("/" + name) or name.endswith("/" + path)]
        return theirs[found[0]] if len(found) == 1 else None

    def wanted(weight):
        return weight.path.startswith(tuple(layers)) if layers else weight.trainable

    pairs = [(weight, match(weight.path)) for weight in model.weights if layers is None or wanted(weight)]
    misfits = [
        f"{weight.path} {tuple(weight.shape)} (parent: {tuple(value.shape) if value is not None else 'none'})"
        for weight, value in pairs
        if (wanted(weight) or value is not None) and (value is None or tuple(value.shape) != tuple(weight.shape))
    ]
    if layers and not pairs:
        misfits = [f"no layer named {' or '.join(f'{prefix}*' for prefix in layers)}"]
    if misfits:
        raise ValueError(
            f"--init-from {parent.path}: its weights do not fit this model: {'; '.join(misfits[:3])}"
            f"{f' and {len(misfits) - 3} more' if len(misfits) > 3 else ''}. Leave the architecture "
            "flags (--units, --num-layers, ...) at the parent's values."
        )
    for weight, value in pairs:
        if value is not None:
            weight.assign(value)


def build_from_parent(task, config, data, parent):
    """`task`'s model of `config` (and `data`, or None) that takes `parent`'s fitted preprocessing
    (`Task.build_model(..., parent=)`) and weights (`copy_weights`): all of them from a model of the
    same task, its encoder (`Task.encoder_layers`) from one of another. How `--init-from` starts a
    run and how `rebuild` brings an export back."""
    model = task.build_model(config, data, parent=parent)
    parent_task = get_task(parent.metadata.get("task"))
    copy_weights(parent, model, None if parent_task is task else parent_task.encoder_layers)
    return model


def member_scope(index):
    """The name scope ensemble member `index` is built or loaded in: its variables are then
    `member_<index>/<layer>/...`, distinct from the other members' in an export, so `rebuild` can
    copy each back (`Task.ensemble`)."""
    return keras.name_scope(f"member_{index}")


def rebuild(saved, **overrides):
    """(task, config, Keras model) equal to the SavedModel `saved`: its task's model of its stored
    config, resolved through the task's table (`zoo.task.stored_config`: defaults for what was added
    since, the data-dependent entries filled) with `overrides`, its weights copied in. An ensemble
    (`test_metrics["members"]`) is rebuilt as its task's ensemble of that many members."""
    task = get_task(saved.metadata.get("task"))
    stored = stored_config(task, saved.metadata.get("config", {}))
    config = task.resolve(resolve_config(task, **{**stored, **overrides}))
    members = saved.metadata.get("test_metrics", {}).get("members")
    if not members:
        return task, config, build_from_parent(task, config, None, saved)
    built = []
    for index in range(members):
        with member_scope(index):
            built.append(task.build_model(config, None, parent=saved))
    model = task.ensemble(built)
    copy_weights(saved, model)
    return task, config, model


def _first_line(error):
    """The error's first readable line (`zoo.guards.readable`), or its kind."""
    text = readable(str(getattr(error, "message", None) or error).strip())
    return (text.splitlines() or [type(error).__name__])[0][:300]


def _restore_hint(version_dir):
    model_dir = pathlib.Path(version_dir).parent
    if is_shipped(model_dir):
        return f"It is one of the zoo's shipped models: restore it with `git checkout -- {model_dir}`."
    return "Export it again (train.py, or zoo.training.export)."


def is_model_name(path):
    """A bare name (no folder, no suffix) that is not a folder here: looked up by name."""
    return len(path.parts) == 1 and not path.suffix and not path.exists()


class SavedModel:
    """One SavedModel version, callable on raw inputs; outputs come back as numpy arrays."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.name = self.path.parent.name  # the model folder, as TF Serving names it
        self.version = int(self.path.name) if self.path.name.isdigit() else None
        try:
            # Kept alive: the signatures read its variables.
            self._loaded = tf.saved_model.load(str(self.path))
            graph = saved_model_pb2.SavedModel.FromString((self.path / "saved_model.pb").read_bytes())
        except (tf.errors.OpError, DecodeError, ValueError, OSError) as error:  # a damaged file, not a bug here
            raise ValueError(f"{self.path}: cannot load this SavedModel ({_first_line(error)}). "
                             + _restore_hint(self.path)) from None
        self.signatures = dict(self._loaded.signatures)
        metadata = self.path / "assets.extra" / METADATA_FILE
        try:
            self.metadata = json.loads(metadata.read_text()) if metadata.exists() else {}
        except ValueError as error:
            raise ValueError(f"{metadata}: not valid JSON ({error}). " + _restore_hint(self.path)) from None
        # As TF Serving's model metadata reports them (`__saved_model_init_op` included).
        self.signature_defs = dict(graph.meta_graphs[0].signature_def)

    def __repr__(self):
        return f"SavedModel({str(self.path)!r})"

    def signature(self, signature_name=SERVING_DEFAULT):
        if signature_name not in self.signatures:
            raise KeyError(
                f"{self.path}: no signature {signature_name!r}; it has {sorted(self.signatures)}."
            )
        return self.signatures[signature_name]

    def input_specs(self, signature_name=SERVING_DEFAULT):
        """`{input name: tf.TensorSpec}` of a signature."""
        return Signature(self, signature_name).input_specs

    def variables(self):
        """The exported variables (Keras's ExportArchive keeps them as `_all_variables`), named
        by their layer paths; see `copy_weights`."""
        return list(self._loaded._all_variables)

    def vocabularies(self):
        """The keys of each non-empty lookup table (e.g. a TextVectorization vocabulary), ordered
        by id, in the order the model's layers hold them (ExportArchive's `_misc_assets`)."""
        vocabularies = []
        for table in getattr(self._loaded, "_misc_assets", []):
            keys, ids = tf.raw_ops.LookupTableExportV2(
                table_handle=table.resource_handle, Tkeys=tf.string, Tvalues=tf.int64
            )
            if len(keys):
                vocabularies.append([key.decode() for key in keys.numpy()[np.argsort(ids.numpy())]])
        return vocabularies

    def output_specs(self, signature_name=SERVING_DEFAULT):
        return dict(self.signature(signature_name).structured_outputs)

    def __call__(self, inputs=None, /, *, signature_name=SERVING_DEFAULT, **named_inputs):
        """Runs a signature on `{input name: values}` (and/or keywords); returns numpy outputs.

        Values are anything numpy takes (lists, arrays, bytes or str for strings).
        Missing or unknown inputs, and shapes or dtypes the signature does not take,
        raise ValueError naming the input; so does an input given both ways.
        """
        twice = sorted(set(inputs or {}) & set(named_inputs))
        if twice:
            raise ValueError(f"Input(s) {twice} given twice, in the dict and as keywords: give each once.")
        return Signature(self, signature_name)({**(inputs or {}), **named_inputs})


class Signature:
    """One signature of a `SavedModel`: its `.input_specs`, and a call on raw inputs checked against them.

    A caller that needs the specs before running (`zoo serve` decodes a request
    into their dtypes) takes them from here, so they are read once per request.
    """

    def __init__(self, model, name=SERVING_DEFAULT):
        self.name = name
        self.function = model.signature(name)  # KeyError naming the signatures there are
        self.input_specs = dict(self.function.structured_input_signature[1])

    def __call__(self, inputs, *, refuse_empty_batch=False):
        """`{output name: numpy array}` for `{input name: values}`; ValueError as `check` says, or
        naming the row that the signature's own checks (`zoo.guards`) refused."""
        return self.run(self.check(inputs, refuse_empty_batch))

    def run(self, tensors):
        """The numpy outputs for tensors `check` has passed; ValueError naming the row that the
        signature's own checks (`zoo.guards`) refused."""
        try:
            outputs = self.function(**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(readable(error.message)) from None
        return {name: value.numpy() for name, value in outputs.items()}

    def check(self, inputs, refuse_empty_batch=False):
        """`{input name: tf.Tensor}` of the specs' dtypes; ValueError naming what does not fit.

        An empty batch (0 rows) runs, unless `refuse_empty_batch`: `zoo serve` refuses
        one, stricter than TF Serving.
        """
        if refuse_empty_batch:
            for name, values in inputs.items():
                shape = np.shape(values)
                if shape and shape[0] == 0:
                    raise ValueError(f"Input {name!r} has an empty batch (0 rows): send at least one row.")
        specs = self.input_specs
        if set(inputs) != set(specs):
            raise ValueError(
                f"signature {self.name!r} takes inputs {sorted(specs)}; got {sorted(inputs)}."
            )
        return {name: to_tensor(values, specs[name], name) for name, values in inputs.items()}


def to_tensor(values, spec, name):
    """`values` as a tensor of `spec`'s dtype, checked against its shape; ValueError naming the input
    for rows of different lengths, a value that is not of the dtype (None among texts), a shape."""
    try:
        array = values if isinstance(values, np.ndarray) else np.asarray(values)
    except ValueError:  # numpy: "inhomogeneous shape"
        raise ValueError(f"Input {name!r} has rows of different lengths; pad them to one length"
                         + (" (NaN for a missing value)." if spec.dtype.is_floating else ".")) from None
    if array.size == 0:  # an empty list comes as float64
        array = array.astype(object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype)
    if spec.dtype == tf.string:
        fits = array.dtype.kind in "OSU"
    elif spec.dtype.is_bool:
        fits = array.dtype.kind == "b"
    elif spec.dtype.is_integer:
        fits = array.dtype.kind in "iu"
    else:
        fits = array.dtype.kind in "iuf"
    if not fits:
        raise ValueError(
            f"Input {name!r}: the signature takes {spec.dtype.name}, got {array.dtype} values."
        )
    if not spec.shape.is_compatible_with(array.shape):
        raise ValueError(
            f"Input {name!r} has shape {list(array.shape)}; the signature takes "
            f"{shape_string(spec.shape)} (-1: any size)."
        )
    if array.dtype == object:  # texts given as Python objects: each must be a str or bytes
        index = next((i for i, value in enumerate(array.flat) if not isinstance(value, (str, bytes))), None)
        if index is not None:
            where = np.unravel_index(index, array.shape)
            raise ValueError(f"Input {name!r}{list(map(int, where))}: {array.flat[index]!r} is not a text; "
                             f"the signature takes {spec.dtype.name} (str or bytes).")
    return tf.constant(array, dtype=spec.dtype)


def shape_string(shape):
    """`[-1, 24, 1]` for TensorShape([None, 24, 1]), as TF Serving's metadata writes sizes."""
    if shape.rank is None:
        return "[unknown rank]"
    return "[" + ", ".join(str(-1 if size is None else size) for size in shape.as_list()) + "]"
