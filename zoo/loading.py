"""Load an exported model to predict with it: `zoo.load(path)`.

`path` is one of
  - a `.keras` file (`runs/<run>/model.keras`): the Keras model itself;
  - a SavedModel version folder (`saved_models/<model>/<version>/`);
  - a model folder (`saved_models/<model>/`): its latest version.

A SavedModel comes back as a `SavedModel`: call it with `{input: values}` or
keywords to run `serving_default` (or `signature_name=`) and get `{output: numpy
array}`. It also carries `.signatures`, `.metadata` (`zoo_metadata.json`),
`.version` and the `SignatureDef`s TF Serving reports. `zoo serve` runs the same
objects.

    model = zoo.load("saved_models/sentiment-gru")
    model(text=["a fine film"])["probabilities"]        # (1, 2)
"""

import json
import pathlib

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import zoo.builders  # noqa: F401  (registers the zoo layers a .keras file may hold)
import zoo.task
from zoo.export import METADATA_FILE, SERVING_DEFAULT, versions


def load(path):
    """The model at `path` (see the module docstring); raises FileNotFoundError naming `path`."""
    path = pathlib.Path(path)
    if path.suffix == ".keras":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such .keras file.")
        for name in zoo.task.list_tasks():  # registers the layers and losses tasks define
            zoo.task.get_task(name)
        return keras.saving.load_model(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such SavedModel folder or .keras file.")
    if not (path / "saved_model.pb").exists():
        found = versions(path)
        if not found:
            raise FileNotFoundError(
                f"{path}: neither a SavedModel (no saved_model.pb) nor a model folder with "
                "integer version subfolders."
            )
        path = path / str(found[-1])
    return SavedModel(path)


class SavedModel:
    """One SavedModel version, callable on raw inputs; outputs come back as numpy arrays."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.name = self.path.parent.name  # the model folder, as TF Serving names it
        self.version = int(self.path.name) if self.path.name.isdigit() else None
        # Kept alive: the signatures read its variables.
        self._loaded = tf.saved_model.load(str(self.path))
        self.signatures = dict(self._loaded.signatures)
        metadata = self.path / "assets.extra" / METADATA_FILE
        self.metadata = json.loads(metadata.read_text()) if metadata.exists() else {}
        graph = saved_model_pb2.SavedModel.FromString((self.path / "saved_model.pb").read_bytes())
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
        return dict(self.signature(signature_name).structured_input_signature[1])

    def output_specs(self, signature_name=SERVING_DEFAULT):
        return dict(self.signature(signature_name).structured_outputs)

    def __call__(self, inputs=None, /, *, signature_name=SERVING_DEFAULT, **named_inputs):
        """Runs a signature on `{input name: values}` (and/or keywords); returns numpy outputs.

        Values are anything numpy takes (lists, arrays, bytes or str for strings).
        Missing or unknown inputs, and shapes or dtypes the signature does not take,
        raise ValueError naming the input.
        """
        function = self.signature(signature_name)
        inputs = {**(inputs or {}), **named_inputs}
        specs = self.input_specs(signature_name)
        if set(inputs) != set(specs):
            raise ValueError(
                f"signature {signature_name!r} takes inputs {sorted(specs)}; got {sorted(inputs)}."
            )
        tensors = {name: to_tensor(values, specs[name], name) for name, values in inputs.items()}
        outputs = function(**tensors)
        return {name: value.numpy() for name, value in outputs.items()}


def to_tensor(values, spec, name):
    """`values` as a tensor of `spec`'s dtype, checked against its shape."""
    array = values if isinstance(values, np.ndarray) else np.asarray(values)
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
    return tf.constant(array, dtype=spec.dtype)


def shape_string(shape):
    """`[-1, 24, 1]` for TensorShape([None, 24, 1]), as TF Serving's metadata writes sizes."""
    if shape.rank is None:
        return "[unknown rank]"
    return "[" + ", ".join(str(-1 if size is None else size) for size in shape.as_list()) + "]"
