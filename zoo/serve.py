"""`zoo serve`: every model under saved_models/ behind TF Serving's REST API.

    zoo serve --port 8501                    # or: python -m zoo.serve --port 8501
    zoo serve --port 8501 --grpc-port 8500   # also TF Serving's gRPC API (zoo/serve_grpc.py)
    curl localhost:8501/v1/models/sentiment-gru
    curl -d '{"instances": ["a fine film"]}' localhost:8501/v1/models/sentiment-gru:predict

Endpoints, request and response JSON and error bodies (`{"error": "..."}`; 400 for
a bad request, 404 for an unknown model or version) follow TF Serving's REST API, so
a client written for one works with the other:

    GET  /v1/models/{name}[/versions/{v}|/labels/{label}]             model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{label}]/metadata    signature defs
    POST /v1/models/{name}[/versions/{v}|/labels/{label}]:predict     row or columnar

Stricter than TF Serving: unknown keys in a predict request, an empty batch and
inputs of a shape the signature does not take are 400s (TF Serving ignores the
first and runs the others). A body over --max-request-bytes is a 413 with a JSON
error; one over twice that is refused by waitress before it is read (a plain-text
413). Only `:predict` is served (`:classify`/`:regress` take tf.Example inputs: 501).

Which versions are served follows `<base>/models.config`'s `model_version_policy`
for the model (default: the latest version, as in TF Serving); `version_labels` come
from there too. The folder and the config are polled every --poll-seconds: a new
version or model is loaded and warmed up with its `tf_serving_warmup_requests`
while the current one keeps serving, then swapped in.
"""

import argparse
import base64
import dataclasses
import json
import logging
import os
import pathlib
import re
import signal
import sys
import threading

import flask
import numpy as np
import tensorflow as tf
import waitress
import werkzeug.exceptions
from google.protobuf import json_format, wrappers_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from zoo.export import (
    MODELS_CONFIG,
    SERVING_DEFAULT,
    model_names,
    read_models_config,
    read_warmup_requests,
    versions,
)
from zoo.loading import SavedModel

DEFAULT_HOST = "127.0.0.1"  # local only unless --host says otherwise
DEFAULT_PORT = 8501  # TF Serving's REST port
DEFAULT_MAX_REQUEST_BYTES = 10 * 2**20
DEFAULT_THREADS = 8  # request threads; TF runs each request's ops on all cores
POLL_SECONDS = 1.0  # as TF Serving's --file_system_poll_wait_seconds

# TF Serving's URL grammar (model_servers/http_rest_api_util.cc), case-insensitive.
PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)", re.I
)
STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?", re.I
)

log = logging.getLogger("zoo.serve")


class ServingError(Exception):
    """A request the server refuses: `message` goes to the client as `{"error": message}`."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message = message
        self.status = status


# ------------------------------------------------------------ model repository


@dataclasses.dataclass
class Servable:
    """One version of one model, as the status API reports it."""

    version: int
    state: str = "LOADING"  # then AVAILABLE, or END when loading failed
    model: SavedModel = None
    error: str = ""


class ModelRepository:
    """The models under `base_path`, their loaded versions, and `models.config`'s policies and labels.

    `refresh()` brings the loaded versions in line with the folder; `start()` does one
    refresh and then polls in a background thread.
    """

    def __init__(self, base_path, poll_seconds=POLL_SECONDS):
        self.base_path = pathlib.Path(base_path)
        self.poll_seconds = poll_seconds
        self._servables = {}  # model name -> {version: Servable}
        self._configs = {}  # model name -> ModelConfig from models.config
        self._config_stamp = None  # (mtime, size) of the models.config read last
        self._lock = threading.Lock()  # guards the two dicts above
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self._stopped = threading.Event()
        self._poller = None

    def start(self):
        self.refresh()
        self._poller = threading.Thread(target=self._poll, name="zoo-serve-poll", daemon=True)
        self._poller.start()

    def stop(self, timeout=None):
        """Stops polling; waits up to `timeout` seconds for a refresh in progress."""
        self._stopped.set()
        if self._poller:
            self._poller.join(timeout)

    def _poll(self):
        while not self._stopped.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # a bad poll must not stop later ones
                log.exception("zoo serve: polling %s failed", self.base_path)

    def refresh(self):
        """Loads the versions the policies want and are not loaded, then unloads the others.

        Loading comes first, so a model never goes without an available version
        while its next one loads (TF Serving's availability-preserving policy); if
        none of the wanted versions loads, the latest available one stays.
        """
        with self._refresh_lock:
            self._read_config()
            wanted = {name: self._wanted_versions(name) for name in model_names(self.base_path)}
            for name, wanted_versions in wanted.items():
                for version in wanted_versions:
                    with self._lock:
                        if version in self._servables.get(name, {}):
                            continue  # loaded, or failed to load: not retried
                        self._servables.setdefault(name, {})[version] = servable = Servable(version)
                    self._load(name, servable)
            with self._lock:
                for name in list(self._servables):
                    servables = self._servables[name]
                    keep = set(wanted.get(name, ()))
                    available = [v for v, s in servables.items() if s.state == "AVAILABLE"]
                    if name in wanted and available and not keep & set(available):
                        keep.add(max(available))  # a broken new version does not take the model down
                    kept = {version: servable for version, servable in servables.items() if version in keep}
                    if kept:
                        self._servables[name] = kept
                    else:
                        del self._servables[name]

    def _load(self, name, servable):
        path = self.base_path / name / str(servable.version)
        try:
            model = SavedModel(path)
            for signature_name, inputs in read_warmup_requests(path):
                model(inputs, signature_name=signature_name)
        except Exception as error:  # any failure: report it in the status, keep serving others
            log.error("zoo serve: loading %s failed: %s", path, error)
            servable.error = f"Loading {path} failed: {type(error).__name__}: {error}"
            servable.state = "END"
            return
        servable.model = model
        servable.state = "AVAILABLE"
        log.info("zoo serve: serving %s version %d", name, servable.version)

    def _read_config(self):
        path = self.base_path / MODELS_CONFIG
        try:
            stat = path.stat()
        except FileNotFoundError:
            with self._lock:
                self._configs, self._config_stamp = {}, None
            return
        if (stat.st_mtime_ns, stat.st_size) == self._config_stamp:
            return
        self._config_stamp = (stat.st_mtime_ns, stat.st_size)
        try:
            config, _ = read_models_config(path)
        except ValueError as error:
            log.error("zoo serve: %s; keeping the policies and labels read before.", error)
            return
        with self._lock:
            self._configs = {model.name: model for model in config.model_config_list.config}

    def _wanted_versions(self, name):
        present = versions(self.base_path / name)
        policy = self._configs[name].model_version_policy if name in self._configs else None
        choice = policy.WhichOneof("policy_choice") if policy else None
        if choice == "all":
            return present
        if choice == "specific":
            return [version for version in present if version in set(policy.specific.versions)]
        latest = policy.latest.num_versions if choice == "latest" else 0
        return present[-(latest or 1) :]

    def model_names(self):
        with self._lock:
            return sorted(self._servables)

    def _version_for_label(self, name, label):
        with self._lock:
            labels = self._configs[name].version_labels if name in self._configs else {}
            if label not in labels:
                raise ServingError(f"Unrecognized servable version label: {label}")
            return labels[label]

    def resolve(self, name, version=None, label=None):
        """The SavedModel a request names: a version, a label's version, or the latest available."""
        if label is not None:
            version = self._version_for_label(name, label)
        with self._lock:
            servables = dict(self._servables.get(name, {}))
        if version is None:
            available = [s for s in servables.values() if s.state == "AVAILABLE"]
            if not available:
                raise ServingError(f"Servable not found for request: Latest({name})", 404)
            return max(available, key=lambda s: s.version).model
        servable = servables.get(version)
        if servable is None or servable.state != "AVAILABLE":
            raise ServingError(f"Servable not found for request: Specific({name}, {version})", 404)
        return servable.model

    def status(self, name, version=None, label=None):
        """TF Serving's GetModelStatusResponse for a model, or one version of it."""
        if label is not None:
            version = self._version_for_label(name, label)
        with self._lock:
            servables = dict(self._servables.get(name, {}))
        if version is not None:
            if version not in servables:
                raise ServingError(f"Could not find version {version} of model {name}", 404)
            servables = {version: servables[version]}
        if not servables:
            raise ServingError(f"Could not find any versions of model {name}", 404)
        response = get_model_status_pb2.GetModelStatusResponse()
        for servable in sorted(servables.values(), key=lambda s: s.version):
            status = response.model_version_status.add(version=servable.version, state=servable.state)
            status.status.error_code = "UNKNOWN" if servable.error else "OK"
            status.status.error_message = servable.error
        return response


def model_spec(model, signature_name=None):
    spec = model_pb2.ModelSpec(name=model.name, version=wrappers_pb2.Int64Value(value=model.version))
    if signature_name is not None:
        spec.signature_name = signature_name
    return spec


def signature_def_map(model):
    """Every SignatureDef of the model, as TF Serving's model metadata lists them."""
    return get_model_metadata_pb2.SignatureDefMap(signature_def=model.signature_defs)


def model_metadata(model):
    """TF Serving's GetModelMetadataResponse as JSON: the model spec and every SignatureDef."""
    return {
        "model_spec": proto_json(model_spec(model)),
        "metadata": {"signature_def": proto_json(signature_def_map(model))},
    }


def signature_input_specs(model, signature_name):
    """`{input name: TensorSpec}` of the named signature; an unknown name is a ServingError (400)."""
    if signature_name not in model.signatures:
        raise ServingError(f'Serving signature name: "{signature_name}" not found in signature def')
    return model.input_specs(signature_name)


def run_signature(model, signature_name, inputs):
    """The signature's numpy outputs; inputs it does not take are a ServingError (400)."""
    for name, array in inputs.items():
        if array.ndim and array.shape[0] == 0:
            raise ServingError(f"Input {name!r} has an empty batch (0 rows): send at least one row.")
    try:
        return model(inputs, signature_name=signature_name)
    except (ValueError, tf.errors.InvalidArgumentError) as error:
        raise ServingError(getattr(error, "message", None) or str(error)) from None


def proto_json(message):
    return json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )


# --------------------------------------------------------- JSON <-> tensors
# TF Serving's JSON mapping (util/json_tensor.cc): strings are JSON strings or
# {"b64": ...}; numbers and booleans as themselves; tensors as nested lists.


def decode_predict_request(document, model):
    """`(format, signature name, {input: numpy array})` from a predict request body."""
    if not isinstance(document, dict):
        raise ServingError("JSON Value: the request body is not a JSON object.")
    unknown = sorted(set(document) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise ServingError(
            f"Unknown key(s) {unknown} in the request; a predict request has 'instances' "
            "(row format) or 'inputs' (columnar format), and optionally 'signature_name'."
        )
    signature_name = document.get("signature_name", SERVING_DEFAULT)
    if not isinstance(signature_name, str):
        raise ServingError("'signature_name' key must be a string value.")
    signature_name = signature_name or SERVING_DEFAULT
    specs = signature_input_specs(model, signature_name)
    if "instances" in document and "inputs" in document:
        raise ServingError(
            "Not formatted correctly: expecting only one of 'inputs' or 'instances' keys to exist."
        )
    if "instances" in document:
        return "row", signature_name, rows_to_arrays(document["instances"], specs)
    if "inputs" in document:
        return "columnar", signature_name, columns_to_arrays(document["inputs"], specs)
    raise ServingError("Missing 'inputs' or 'instances' key")


def is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def is_named(value):
    """A `{input name: value}` object (a `{"b64": ...}` value is not one)."""
    return isinstance(value, dict) and not is_b64(value)


def rows_to_arrays(instances, specs):
    """Row format: a list of rows, each `{input: value}`, or a bare value when there is one input."""
    if not isinstance(instances, list):
        raise ServingError("Expecting 'instances' to be a list/array.")
    if not instances:
        raise ServingError("No values in 'instances' array: send at least one row.")
    names = sorted(specs)
    named = is_named(instances[0])
    if not named and len(names) > 1:
        raise ServingError(
            f"'instances' is a plain list, but the signature takes several inputs {names}: "
            "send a list of objects with one key per input."
        )
    columns = {name: [] for name in names}
    for index, row in enumerate(instances):
        if named != is_named(row):
            expected = "an object" if named else "a value/list"
            raise ServingError(f"Expecting {expected} at item {index} of 'instances', like item 0.")
        if named:
            if set(row) != set(names):
                raise ServingError(
                    f"Failed to process element: {index} of 'instances' list: keys "
                    f"{sorted(row)} must be equal to the inputs {names}."
                )
            for name in names:
                columns[name].append(row[name])
        else:
            columns[names[0]].append(row)
    return {name: json_to_array(columns[name], specs[name], name) for name in names}


def columns_to_arrays(inputs, specs):
    """Columnar format: `{input: tensor}`, or the bare tensor when there is one input."""
    names = sorted(specs)
    if not is_named(inputs):
        if len(names) > 1:
            raise ServingError(
                f"'inputs' is a plain value/list, but the signature takes several inputs "
                f"{names}: send an object with one key per input."
            )
        inputs = {names[0]: inputs}
    unknown = sorted(set(inputs) - set(names))
    if unknown:
        raise ServingError(f"Unknown input(s) {unknown} in 'inputs'; the signature takes {names}.")
    for name in names:
        if name not in inputs:
            raise ServingError(f"Missing named input: {name} in 'inputs' object.")
    return {name: json_to_array(inputs[name], specs[name], name) for name in names}


def json_to_array(value, spec, name):
    """A dense numpy array of `spec.dtype` from nested JSON lists; ServingError says where not."""
    array = _plain_numbers(value, spec.dtype)
    if array is not None:
        return array
    shape = []
    probe = value
    while isinstance(probe, list):  # the shape the first elements describe, as TF Serving
        shape.append(len(probe))
        probe = probe[0] if probe else None
    flat = []
    _fill(value, shape, spec.dtype, name, (), flat)
    numpy_dtype = object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype
    return np.array(flat, dtype=numpy_dtype).reshape(shape)


def _plain_numbers(value, dtype):
    """The fast path for the common case, a dense nest of JSON numbers in `dtype`'s range.

    None for anything else (strings, booleans, ragged or mixed values, out of range):
    the element-wise path then converts it or says exactly what is wrong.
    """
    if dtype == tf.string or dtype.is_bool or not isinstance(value, list):
        return None
    objects = np.array(value, dtype=object)
    allowed = {int} if dtype.is_integer else {int, float}
    if not set(map(type, objects.flat)) <= allowed:  # also catches ragged nests (lists left)
        return None
    try:
        array = objects.astype(np.float64 if dtype.is_floating else np.int64)
    except OverflowError:  # an integer beyond 64 bits
        return None
    finite = array[np.isfinite(array)] if dtype.is_floating else array
    if finite.size and (finite.min() < dtype.min or finite.max() > dtype.max):
        return None
    return array.astype(dtype.as_numpy_dtype)


def _fill(value, shape, dtype, name, index, flat):
    where = f"Input {name!r}" + "".join(f"[{i}]" for i in index)
    level = len(index)
    if isinstance(value, list):
        if level >= len(shape):
            raise ServingError(f"{where} is a list nested deeper than the first element's.")
        if len(value) != shape[level]:
            raise ServingError(
                f"{where} has {len(value)} values where the first element has {shape[level]}: "
                "tensors must be dense, not ragged."
            )
        for i, item in enumerate(value):
            _fill(item, shape, dtype, name, index + (i,), flat)
        return
    if level != len(shape):
        raise ServingError(f"{where} is a single value where a list of {shape[level]} was expected.")
    flat.append(_scalar(value, dtype, where))


def _scalar(value, dtype, where):
    if dtype == tf.string:
        if isinstance(value, str):
            return value.encode("utf-8")
        if is_b64(value):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except ValueError:
                raise ServingError(f"{where}: unable to base64 decode {value['b64'][:40]!r}.") from None
    elif dtype.is_bool:
        if isinstance(value, bool):
            return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if dtype.is_integer:
            if isinstance(value, int) and dtype.min <= value <= dtype.max:
                return value
            if isinstance(value, int):
                raise ServingError(f"{where}: {value} is out of range for {dtype.name}.")
        elif abs(value) <= dtype.max or value != value or abs(value) == float("inf"):
            return value
        else:
            raise ServingError(
                f"{where}: cannot convert {value} to {dtype.name} without loss of precision."
            )
    raise ServingError(
        f"{where}: JSON value {json.dumps(value)[:80]} ({_json_type(value)}) is not of expected "
        f"type {dtype.name}."
    )


def _json_type(value):
    if isinstance(value, bool):
        return "Bool"
    return {str: "String", int: "Number", float: "Number", dict: "Object", type(None): "Null"}.get(
        type(value), type(value).__name__
    )


def encode_predict_response(outputs, request_format):
    """`{"predictions": ...}` (row) or `{"outputs": ...}` (columnar), as TF Serving writes them.

    One output: its values alone. Several: one object per row (row format) or one
    object of tensors (columnar).
    """
    names = sorted(outputs)
    values = {name: array_to_json(outputs[name], name) for name in names}
    if request_format == "columnar":
        return {"outputs": values[names[0]] if len(names) == 1 else values}
    batch_sizes = set()
    for name in names:
        if outputs[name].ndim == 0:
            raise ServingError(f"Tensor name: {name} has no shape information; use 'inputs' (columnar).")
        batch_sizes.add(outputs[name].shape[0])
    if len(batch_sizes) > 1:
        raise ServingError(
            f"Outputs {names} have different batch sizes {sorted(batch_sizes)}; use 'inputs' (columnar)."
        )
    if len(names) == 1:
        return {"predictions": values[names[0]]}
    return {
        "predictions": [{name: values[name][row] for name in names} for row in range(batch_sizes.pop())]
    }


def array_to_json(array, name):
    """Nested lists; float32 in its shortest round-trip form; strings as text or `{"b64": ...}`."""
    if array.dtype.kind == "f" and array.dtype.itemsize < 8:
        return array.astype(str).astype(np.float64).tolist()  # 0.2, not 0.20000000298023224
    if array.dtype.kind in "OS":
        as_bytes = name.endswith("_bytes")  # TF Serving's convention for binary outputs
        strings = np.empty(array.shape, dtype=object)
        for index, item in np.ndenumerate(array):
            strings[index] = _string_json(item, as_bytes)
        return strings.tolist()
    return array.tolist()


def _string_json(item, as_bytes):
    if not as_bytes:
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            pass  # not text: send it as binary
    return {"b64": base64.b64encode(item).decode("ascii")}


# ------------------------------------------------------------------ web app


def create_app(repository, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES):
    """The Flask app answering TF Serving's REST API from `repository`."""
    app = flask.Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_request_bytes

    def reply(payload, status=200):
        return flask.Response(json.dumps(payload), status, mimetype="application/json")

    @app.errorhandler(ServingError)
    def refused(error):
        return reply({"error": error.message}, error.status)

    @app.errorhandler(werkzeug.exceptions.RequestEntityTooLarge)
    def too_large(error):
        return reply(
            {
                "error": f"Request body is larger than the server's limit of {max_request_bytes} "
                "bytes (zoo serve --max-request-bytes)."
            },
            413,
        )

    @app.errorhandler(werkzeug.exceptions.HTTPException)
    def http_error(error):
        return reply({"error": f"{error.name}: {flask.request.method} {flask.request.path}"}, error.code)

    @app.errorhandler(Exception)
    def internal_error(error):
        log.exception("zoo serve: %s %s failed", flask.request.method, flask.request.path)
        return reply({"error": f"Internal error: {type(error).__name__}: {error}"}, 500)

    @app.route("/v1/<path:unused>", methods=["GET", "POST"])
    def api(unused):
        path = flask.request.path
        if flask.request.method == "POST":
            match = PREDICT_PATH.fullmatch(path)
            if match:
                name, version, label, method = match.groups()
                if method.lower() != "predict":
                    raise ServingError(f"zoo serve answers :predict only, not :{method}.", 501)
                return reply(predict(name, version and int(version), label))
        else:
            match = STATUS_PATH.fullmatch(path)
            if match:
                name, version, label, metadata = match.groups()
                if not name:
                    raise ServingError("Missing model name in request.")
                version = version and int(version)
                if metadata:
                    return reply(model_metadata(repository.resolve(name, version, label)))
                return reply(proto_json(repository.status(name, version, label)))
        raise ServingError(f"Malformed request: {flask.request.method} {path}")

    def predict(name, version, label):
        body = flask.request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: 413
        try:
            document = json.loads(body)
        except ValueError as error:  # bad JSON or bad UTF-8
            raise ServingError(f"JSON Parse error: {error}") from None
        model = repository.resolve(name, version, label)
        request_format, signature_name, inputs = decode_predict_request(document, model)
        return encode_predict_response(run_signature(model, signature_name, inputs), request_format)

    return app


def make_server(
    repository,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    max_request_bytes=DEFAULT_MAX_REQUEST_BYTES,
    threads=DEFAULT_THREADS,
):
    """A waitress server for `repository`, to `.run()`; port 0 picks a free one (`.effective_port`)."""
    return waitress.create_server(
        create_app(repository, max_request_bytes),
        host=host,
        port=port,
        threads=threads,
        # waitress refuses larger bodies itself, in plain text; up to here the app's JSON 413 answers.
        max_request_body_size=2 * max_request_bytes,
        ident="zoo serve",
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:  # `zoo serve ...` and `python -m zoo.serve ...`
        argv = argv[1:]
    parser = argparse.ArgumentParser(
        prog="zoo serve",
        description="Serve every model under --model-base-path with TF Serving's REST API.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"REST port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--grpc-port", type=int, default=None,
        help="also serve TF Serving's gRPC API here (TF Serving uses 8500; default: no gRPC)",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to bind (default {DEFAULT_HOST}: this machine only)",
    )
    parser.add_argument(
        "--model-base-path", default="saved_models", help="folder of <model>/<version>/ exports"
    )
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        default=DEFAULT_MAX_REQUEST_BYTES,
        help=f"larger request bodies get 413 (default {DEFAULT_MAX_REQUEST_BYTES})",
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=POLL_SECONDS,
        help=f"how often to look for new versions and models.config changes (default {POLL_SECONDS})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"request threads (default {DEFAULT_THREADS})",
    )
    args = parser.parse_args(argv)
    if not pathlib.Path(args.model_base_path).is_dir():
        sys.exit(
            f"zoo serve: --model-base-path {args.model_base_path}: no such folder "
            "(export a model with train.py)."
        )

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    repository = ModelRepository(args.model_base_path, args.poll_seconds)
    repository.start()
    server = make_server(repository, args.host, args.port, args.max_request_bytes, args.threads)
    grpc_server = None
    if args.grpc_port is not None:
        from zoo.serve_grpc import make_grpc_server

        try:
            grpc_server, grpc_port = make_grpc_server(
                repository, args.host, args.grpc_port, args.max_request_bytes, args.threads
            )
        except OSError as error:
            sys.exit(str(error))
    names = repository.model_names()
    grpc_line = f" and gRPC on {args.host}:{grpc_port}" if grpc_server else ""
    print(
        f"zoo serve: {len(names)} model(s) {names} from {args.model_base_path}/ on "
        f"http://{args.host}:{server.effective_port}/v1/models/<name>{grpc_line}",
        flush=True,
    )
    # SIGTERM (`docker stop`, `kill`) stops the server as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        server.run()  # until Ctrl-C or SIGTERM
    finally:
        if grpc_server:
            grpc_server.stop(grace=5)
        repository.stop(timeout=10)
    print("zoo serve: stopped", flush=True)
    sys.stderr.flush()
    # Nothing is left to write; exit now rather than wait on TensorFlow's own threads
    # at interpreter shutdown, which once kept a stopped server alive past 30 s in CI.
    os._exit(0)


if __name__ == "__main__":
    main()
