"""LiteRT (TFLite) and ONNX versions of an exported model, for phones and gateways.

    python -m zoo.export ctc_speech-fsdd-gru --format litert onnx [--quantize dynamic]
    python train.py --task forecasting --formats litert onnx

The files go beside the SavedModel, in `<model>/<version>/edge/` (TF Serving reads
`saved_model.pb` and `variables/` only): one `<signature>.tflite` / `<signature>.onnx`
per edge signature of the task, the task's extra files (sentiment's vocabularies) and
`edge.json`, which says what each file takes and returns, its size and the parity
measured. The version's `zoo_metadata.json` and the model card record them too.

How. A SavedModel's recurrent layers are the zoo's fused loops (a `tf.while_loop` over
TensorArrays whose element shape has a free batch dimension). Converted as they are,
they need Select TF ops in LiteRT ("tf.TensorListReserve requires element_shape to be
static") and fail in tf2onnx 1.17 ("Conversion of Loop requires output shape ...";
with the batch fixed, ONNX Runtime then rejects the Loop: "Tensor element type mismatch
7 != 6"). So the model is rebuilt from the export (the task's `build_model` with the version's
config, dropout off, the SavedModel's weights copied in) and traced with a batch of one
and a fixed number of steps under `zoo.layers.unrolled_loops()`: the same fused
equations, their time loop a Python loop, so each recurrence becomes a chain of builtin
ops with no loop at all. (Keras's own `unroll=True` is not used: its unrolled path zeroes
a backward layer's masked outputs with the mask in forward order, so a Bidirectional
layer's padded steps come out wrong; keras/src/backend/tensorflow/rnn.py, the
`zero_output_for_mask` branch of `unroll`.) The streaming speech step uses Keras's RNN
over the chunk's frames, unrolled, forward only.
The traced function is frozen first (variables to constants): TF 2.21's converter
otherwise keeps Keras 3 variables as resource variables with no values (a 69 KB file
whose outputs are NaN). Then
- LiteRT: `tf.lite.TFLiteConverter`, builtin ops only (no Flex delegate), with
  `--quantize dynamic` post-training dynamic-range int8 weights;
- ONNX: `tf2onnx.convert.from_function`, opset `ONNX_OPSET`.
tf2onnx turns a select (`tf.where`) into `c * a + (1 - c) * b` unless its condition is
`tf.math.is_nan`/`is_inf` itself, so a NaN in the branch not taken poisons the result
(onnx/tensorflow-onnx#1988; #2411, open, for `is_inf`): the zoo's NaN-aware code writes
`where(isnan(x), fallback, f(x))` for that reason, and the forecaster's edge examples
include histories with missing values.

Each file is run (`EdgeModel`) on the task's edge examples beside the function it was
converted from before it is written; a difference beyond `PARITY_TOLERANCE` (or a
non-finite output, or a shape TF does not give) stops the conversion and writes
nothing. A quantised file is only measured (int8 weights move every output, and a streaming state
that carries the last emitted symbol can differ by whole symbols): what it costs is
the task's metric, in benchmarks/edge.py.

A model that cannot be rebuilt this way (an ensemble of members, a Keras built-in
recurrent layer) is refused, naming the layer and the format.
"""

import dataclasses
import json
import os
import pathlib
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from zoo import cards, loading
from zoo.cell_names import KERAS_BUILTIN_CELLS
from zoo.layers import unrolled_loops
from zoo.run_options import EDGE_FORMATS
from zoo.layers.recurrent import FusedRNN
from zoo.layout import (
    METADATA_FILE,
    is_shipped,
    read_warmup_requests,
    refresh_manifest_entry,
    remove_stale_staging,
)

FORMATS = EDGE_FORMATS
FORMAT_NAMES = {"litert": "LiteRT", "onnx": "ONNX"}
QUANTIZATIONS = ("dynamic",)
EDGE_DIR = "edge"  # in the version folder
RECORD_FILE = "edge.json"  # in EDGE_DIR
STAGING_PREFIX = ".edge-staging-"  # beside EDGE_DIR while a conversion writes; `-<pid>` ends the name
ONNX_OPSET = 17
PARITY_TOLERANCE = 1e-4  # |converted - TF| <= tol * (1 + |TF|), float32 round-off of another kernel order


class EdgeError(ValueError):
    """A model, a format or an input the edge conversion or runtime cannot take; the message says which."""


# ---------------------------------------------------------------- rebuilding


def check_config(task, config, formats):
    """EdgeError, before any training, for a configuration with no on-device form."""
    if config.get("cell") in KERAS_BUILTIN_CELLS:
        raise EdgeError(f"--formats {' '.join(formats)}: --cell {config['cell']} is Keras's built-in layer (its "
                        "loop and cuDNN kernel have no LiteRT or ONNX form here); use --cell gru or lstm.")
    reason = task.edge_unavailable(config)
    if reason:
        raise EdgeError(f"--formats {' '.join(formats)}: {reason}")


def rebuild(saved, formats=("litert", "onnx")):
    """(task, config, Keras model) equal to the SavedModel `saved` (`zoo.loading.rebuild`), dropout off."""
    if saved.metadata.get("test_metrics", {}).get("members"):
        raise EdgeError(
            f"{saved.name}: an ensemble of {saved.metadata['test_metrics']['members']} models in one SavedModel; "
            "LiteRT/ONNX conversion takes one model (convert a member's own export)."
        )
    dropout_off = {key: 0.0 for key, value in saved.metadata.get("config", {}).items()
                   if "dropout" in key and isinstance(value, float)}
    task, config, model = loading.rebuild(saved, **dropout_off)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.RNN) and not isinstance(layer, FusedRNN):
            raise EdgeError(
                f"{saved.name}: layer {layer.name!r} is Keras's built-in {type(layer).__name__} (its loop"
                f"{', like its cuDNN kernel,' if isinstance(layer, (keras.layers.GRU, keras.layers.LSTM)) else ''} "
                f"has no {' or '.join(FORMAT_NAMES[name] for name in formats)} form here); train with the zoo's "
                "layers (--cell gru or lstm) to convert."
            )
    return task, config, model


def frozen(function, input_signature):
    """`function` traced on `input_signature` (TensorSpecs named as the inputs), its variables turned
    into constants: a tf.function of the same inputs, in order, returning the same dict."""
    with unrolled_loops():  # the zoo's recurrences as chains of steps (see the module docstring)
        concrete = tf.function(function, autograph=False).get_concrete_function(*input_signature)
    constant = convert_variables_to_constants_v2(concrete)

    def call(*inputs):
        outputs = tf.nest.pack_sequence_as(concrete.structured_outputs, tf.nest.flatten(constant(*inputs)))
        return {name: tf.identity(value, name=name) for name, value in outputs.items()}

    return tf.function(call, input_signature=list(input_signature), autograph=False)


# ------------------------------------------------------------------ formats


def to_litert(function, name, quantize=None):
    """The LiteRT flatbuffer of a frozen function, its one signature called `name`."""
    with tempfile.TemporaryDirectory() as folder:
        # A SavedModel is the route that keeps the signature's input and output names.
        tf.saved_model.save(tf.Module(), folder, signatures={name: function.get_concrete_function()},
                            options=tf.saved_model.SaveOptions(experimental_custom_gradients=False))
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=[name])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        try:
            return converter.convert()
        except Exception as error:  # noqa: BLE001 (the converter raises several kinds)
            raise EdgeError(f"signature {name!r}: LiteRT conversion (builtin ops only) failed: "
                            f"{_first_error_line(error)}") from None


def to_onnx(function, name):
    import tf2onnx

    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature,
                                                 opset=ONNX_OPSET)
    except Exception as error:  # noqa: BLE001
        raise EdgeError(f"signature {name!r}: ONNX conversion (tf2onnx, opset {ONNX_OPSET}) failed: "
                        f"{_first_error_line(error)}") from None
    return proto.SerializeToString()


def _format_of(path):
    return next(name for name, suffix in FORMATS.items() if suffix == pathlib.Path(path).suffix)


def _first_error_line(error):
    lines = [line.strip() for line in str(error).splitlines() if "error" in line.lower()]
    return (lines[0] if lines else (str(error).strip().splitlines() or [type(error).__name__])[0])[:400]


# ------------------------------------------------------------------ runtimes


class EdgeModel:
    """A `.tflite` (ai-edge-litert's interpreter) or `.onnx` (ONNX Runtime) file, called as
    `model(**inputs)` → `{output: numpy}`, checking each input's dtype and shape first."""

    def __init__(self, path, num_threads=1):
        self.path = pathlib.Path(path)
        if self.path.suffix not in FORMATS.values():
            raise EdgeError(f"{self.path}: not a .tflite or .onnx file.")
        if not self.path.is_file():
            raise EdgeError(f"{self.path}: no such file.")
        try:
            self._open(num_threads)
        except Exception as error:  # noqa: BLE001 (each runtime raises its own kinds)
            raise EdgeError(f"{self.path}: not a readable {FORMAT_NAMES[_format_of(self.path)]} file "
                            f"({_first_error_line(error)}).") from None

    def _open(self, num_threads):
        if self.path.suffix == ".tflite":
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
            (self.signature,) = interpreter.get_signature_list()
            self._runner = interpreter.get_signature_runner(self.signature)
            self.inputs = {name: (tuple(int(size) for size in detail["shape_signature"]), np.dtype(detail["dtype"]))
                           for name, detail in self._runner.get_input_details().items()}
            self._run = lambda inputs: self._runner(**inputs)
        elif self.path.suffix == ".onnx":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = num_threads
            session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            self.signature = self.path.stem
            types = {"tensor(float)": "float32", "tensor(int32)": "int32", "tensor(int64)": "int64"}
            self.inputs = {
                item.name: (tuple(size if isinstance(size, int) else -1 for size in item.shape),
                            np.dtype(types.get(item.type, "float32")))
                for item in session.get_inputs()
            }
            names = [item.name for item in session.get_outputs()]
            self._run = lambda inputs: dict(zip(names, session.run(names, inputs)))

    def __call__(self, **inputs):
        """`{output: numpy}`; EdgeError for inputs `check` refuses, or an output that is not finite
        (inputs beyond what float32 carries through the model), as the SavedModel refuses them."""
        outputs = self._run(self.check(inputs))
        for key, value in outputs.items():
            value = np.asarray(value)
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise EdgeError(f"{self.path.name}: output {key!r} is not finite for these inputs (values beyond "
                                "float32's range?); scale them down.")
        return outputs

    def check(self, inputs):
        """The inputs as arrays of the file's dtypes; EdgeError naming what does not fit: a dtype or
        shape the file does not take, and in a float input an infinite value or a row with no finite
        value at all (all NaN, or empty), which the SavedModels refuse too and a converted graph
        would turn into a number (or, for an empty row, LiteRT's "Division by 0")."""
        if set(inputs) != set(self.inputs):
            raise EdgeError(f"{self.path.name} takes inputs {sorted(self.inputs)}; got {sorted(inputs)}.")
        checked = {}
        for name, values in inputs.items():
            shape, dtype = self.inputs[name]
            array = np.asarray(values)
            kinds = "iu" if dtype.kind in "iu" else "iuf"
            if array.dtype.kind not in kinds:
                raise EdgeError(f"{self.path.name}: input {name!r} takes {dtype.name}, got {array.dtype} values.")
            if len(array.shape) != len(shape) or any(want not in (-1, got) for want, got in zip(shape, array.shape)):
                wanted = "[" + ", ".join("any" if size == -1 else str(size) for size in shape) + "]"
                raise EdgeError(f"{self.path.name}: input {name!r} has shape {list(array.shape)}; "
                                f"it takes {wanted} ({dtype.name}).")
            array = array.astype(dtype, copy=False)
            if dtype.kind == "f":
                rows = array.reshape(len(array), -1) if array.ndim else array.reshape(1, -1)
                infinite = np.flatnonzero(np.isinf(rows).any(axis=1))
                if len(infinite):
                    raise EdgeError(f"{self.path.name}: input {name!r} row {infinite[0]} holds an infinite value; "
                                    "send NaN for a missing one where the model takes it.")
                empty = np.flatnonzero(~np.isfinite(rows).any(axis=1))
                if len(empty):
                    raise EdgeError(f"{self.path.name}: input {name!r} row {empty[0]} has no value (all NaN or "
                                    "empty); send at least one.")
            checked[name] = array
        return checked


# ---------------------------------------------------------------- conversion


@dataclasses.dataclass
class EdgeFile:
    signature: str
    format: str
    path: pathlib.Path
    max_difference: float  # measured against the TF function on the task's edge examples


def convert(model, formats, quantize=None, output_dir=None):
    """Converts the exported `model` (a name, a version folder or a `zoo.loading.SavedModel`)
    to each of `formats`; writes `<version>/edge/` (or `output_dir`) whole or not at all and
    records it, keeping the files of other formats already there. Returns the [EdgeFile].

    A shipped model's folder is tracked by git and never changes because a user converted it:
    its conversion goes to `output_dir`, which it then needs."""
    formats = list(dict.fromkeys(formats))
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise EdgeError(f"--format {' '.join(unknown) or '(none)'}: the formats are {sorted(FORMATS)}.")
    if quantize not in (None, *QUANTIZATIONS):
        raise EdgeError(f"--quantize {quantize}: the one quantisation is {QUANTIZATIONS[0]!r}.")
    if quantize and formats != ["litert"]:
        raise EdgeError("--quantize dynamic applies to LiteRT only: give --format litert alone.")
    saved = model if isinstance(model, loading.SavedModel) else loading.load(model)
    if not isinstance(saved, loading.SavedModel):
        raise EdgeError(f"{model}: give an exported model (a name or version folder), not a .keras file.")
    if not output_dir and is_shipped(saved.path.parent):
        raise EdgeError(f"{saved.name} is one of the zoo's shipped models, whose files git tracks: its on-device "
                        f"files go elsewhere: python -m zoo.export {saved.name} --format {' '.join(formats)} "
                        "--output DIR.")
    task, config, keras_model = rebuild(saved, formats)
    signatures = task.edge_signatures(keras_model, config)
    warmup = dict(read_warmup_requests(saved.path)).get("serving_default") or {}
    examples = task.edge_examples(keras_model, config, warmup)

    target = pathlib.Path(output_dir) if output_dir else saved.path / EDGE_DIR
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target.parent, STAGING_PREFIX)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, suffix=f"-{os.getpid()}", dir=target.parent))
    os.chmod(staging, 0o777 & ~_umask())  # as the rest of an export (mkdtemp's is 0700): TF Serving may be another user
    files, record = [], {"quantize": quantize, "tolerance": None if quantize else PARITY_TOLERANCE,
                         "signatures": {}, "files": {}}
    try:
        for name, (function, input_signature) in signatures.items():
            function = frozen(function, input_signature)
            expected = [{key: value.numpy() for key, value in
                         function(*[inputs[spec.name] for spec in input_signature]).items()}
                        for inputs in examples.get(name, [])]
            record["signatures"][name] = {
                "inputs": {spec.name: _spec_text(spec) for spec in input_signature},
                "outputs": {key: _spec_text(spec) for key, spec in
                            function.get_concrete_function().structured_outputs.items()},
                "examples_checked": len(expected),
            }
            for format_name in formats:
                path = staging / f"{name}{FORMATS[format_name]}"
                content = to_litert(function, name, quantize) if format_name == "litert" else to_onnx(function, name)
                path.write_bytes(content)
                difference = _max_difference(EdgeModel(path), examples.get(name, []), expected, record["tolerance"],
                                             f"{saved.name} {name} as {format_name}")
                files.append(EdgeFile(name, format_name, target / path.name, difference))
                record["files"][path.name] = {"signature": name, "format": format_name, "bytes": len(content),
                                              "max_difference": difference, "quantize": quantize}
        for filename, text in task.edge_assets(keras_model, config).items():
            (staging / filename).write_text(text)
            record["files"][filename] = {"asset": True, "bytes": (staging / filename).stat().st_size}
        record["about"] = task.edge_about(config)
        _keep_other_formats(target, staging, record)
        (staging / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not output_dir:
        _record_in_metadata(saved.path, record)
        card = saved.path.parent / cards.CARD_FILE
        if card.exists():
            section = cards.edge_section(record, saved.path.name)
            card.write_text(cards.with_section(card.read_text(), cards.EDGE_HEADING, section))
        refresh_manifest_entry(saved.path.parent)  # a shipped model lists its files
    return files


def _keep_other_formats(target, staging, record):
    """Copies into `staging` the files an earlier conversion left in `target` that this one does not
    write (another format's), and adds their entries to `record`: converting to ONNX after LiteRT
    keeps the LiteRT file."""
    previous_path = target / RECORD_FILE
    if not previous_path.is_file():
        return
    previous = json.loads(previous_path.read_text())
    for filename, entry in previous.get("files", {}).items():
        if filename not in record["files"] and (target / filename).is_file():
            shutil.copy2(target / filename, staging / filename)
            record["files"][filename] = {**entry, "quantize": entry.get("quantize", previous.get("quantize"))}
    record["signatures"] = {**previous.get("signatures", {}), **record["signatures"]}


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _spec_text(spec):
    dims = ["any" if size is None else str(size) for size in spec.shape.as_list()]
    return f"{spec.dtype.name}[{', '.join(dims)}]"


def _max_difference(edge_model, examples, expected, tolerance, what):
    worst = 0.0
    for inputs, outputs in zip(examples, expected):
        got = edge_model(**inputs)
        for key, want in outputs.items():
            have = np.asarray(got[key], dtype=want.dtype)
            if have.shape != want.shape:
                raise EdgeError(f"{what}: output {key!r} has shape {list(have.shape)}, TF gives {list(want.shape)}.")
            difference = np.abs(have.astype("float64") - want)
            worst = max(worst, float(difference.max(initial=0.0)))
            if not np.all(np.isfinite(have)) and np.all(np.isfinite(want)):
                raise EdgeError(f"{what}: output {key!r} holds NaN or infinity where TensorFlow's does not; "
                                "nothing was written.")
            if tolerance is not None and not np.all(difference <= tolerance * (1 + np.abs(want))):
                raise EdgeError(f"{what}: output {key!r} differs from TensorFlow's by up to "
                                f"{float(difference.max()):.3g} (tolerance {tolerance} x (1 + |value|)); "
                                "nothing was written.")
    return worst


def _record_in_metadata(version_dir, record):
    path = pathlib.Path(version_dir) / "assets.extra" / METADATA_FILE
    metadata = json.loads(path.read_text())
    metadata["edge"] = {"folder": EDGE_DIR, **{key: record[key] for key in ("quantize", "files")}}
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(metadata, indent=2) + "\n")
    os.replace(temporary, path)
