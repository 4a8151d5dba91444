"""TF Serving's REST API over a `ModelRepository`: the JSON codec and the Flask app.

Endpoints, request and response JSON and error bodies (`{"error": "..."}`; 400 for
a bad request, 404 for an unknown model or version) follow TF Serving's REST API, so
a client written for one works with the other:

    GET  /v1/models/{name}[/versions/{v}|/labels/{label}]             model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{label}]/metadata    signature defs
    POST /v1/models/{name}[/versions/{v}|/labels/{label}]:predict     row or columnar

Stricter than TF Serving: unknown keys in a predict request, an empty batch and
inputs of a shape the signature does not take are 400s (TF Serving ignores the
first and runs the others). A body over `max_request_bytes` is a 413 with a JSON
error; one over twice that is refused by waitress before it is read (a plain-text
413). Only `:predict` is served (`:classify`/`:regress` take tf.Example inputs: 501).

The codec maps a request's rows or columns onto the signature's inputs and its
JSON values onto their dtypes, saying where they do not fit; `zoo.loading.Signature`
then checks the arrays (shapes, an empty batch) as it does for every caller.
"""

import base64
import json
import logging
import re

import flask
import numpy as np
import tensorflow as tf
import waitress
import werkzeug.exceptions

from zoo.layout import SERVING_DEFAULT
from zoo.loading import shape_string
from zoo.serving.errors import ServingError
from zoo.serving.page import add_page
from zoo.serving.protos import model_metadata, proto_json
from zoo.serving.signatures import DEFAULT_MAX_REQUEST_ROWS, find_signature, run_signature

DEFAULT_HOST = "127.0.0.1"  # local only unless --host says otherwise
DEFAULT_PORT = 8501  # TF Serving's REST port
DEFAULT_MAX_REQUEST_BYTES = 10 * 2**20
DEFAULT_THREADS = 8  # request threads; TF runs each request's ops on all cores

# TF Serving's URL grammar (model_servers/http_rest_api_util.cc), case-insensitive.
PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)", re.I
)
STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?", re.I
)

log = logging.getLogger("zoo.serve")  # the name zoo serve has always logged under


# --------------------------------------------------------- JSON <-> tensors
# TF Serving's JSON mapping (util/json_tensor.cc): strings are JSON strings or
# {"b64": ...}; numbers and booleans as themselves; tensors as nested lists.


def decode_predict_request(document, model):
    """`(format, Signature, {input: numpy array})` from a predict request body."""
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
    signature = find_signature(model, signature_name or SERVING_DEFAULT)
    if "instances" in document and "inputs" in document:
        raise ServingError(
            "Not formatted correctly: expecting only one of 'inputs' or 'instances' keys to exist."
        )
    if "instances" in document:
        return "row", signature, rows_to_arrays(document["instances"], signature.input_specs)
    if "inputs" in document:
        return "columnar", signature, columns_to_arrays(document["inputs"], signature.input_specs)
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


MAX_DEPTH = 32  # lists nested deeper are refused before numpy (at most 64 dimensions) or recursion meet them


def json_to_array(value, spec, name):
    """A dense numpy array of `spec.dtype` from nested JSON lists; ServingError says where not."""
    shape = []
    probe = value
    while isinstance(probe, list):  # the shape the first elements describe, as TF Serving
        shape.append(len(probe))
        probe = probe[0] if probe else None
    if len(shape) > MAX_DEPTH:
        raise ServingError(f"Input {name!r} nests lists {len(shape)} deep; the signature takes "
                           f"{shape_string(spec.shape)} (-1: any size).")
    array = _plain_numbers(value, spec.dtype)
    if array is not None:
        return array
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


def row_request(inputs):
    """A client's row-format request for `{input name: array}`: bare values for a single
    input, else one object per row (what `decode_predict_request` reads)."""
    columns = {name: array_to_json(values, name) for name, values in inputs.items()}
    if len(columns) == 1:
        return {"instances": next(iter(columns.values()))}
    rows = len(next(iter(columns.values())))
    return {"instances": [{name: column[i] for name, column in columns.items()} for i in range(rows)]}


def _string_json(item, as_bytes):
    if not as_bytes:
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            pass  # not text: send it as binary
    return {"b64": base64.b64encode(item).decode("ascii")}


# ------------------------------------------------------------------ web app


def create_app(repository, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES, max_request_rows=DEFAULT_MAX_REQUEST_ROWS,
               batcher=None, ui=True):
    """The Flask app answering TF Serving's REST API from `repository` (merging concurrent
    requests through `batcher`, a `zoo.serving.batching.RequestBatcher`, if given), and with `ui`
    the zoo's page (`zoo.serving.page`: GET /, /models/<name>/, /static/...)."""
    app = flask.Flask(__name__, static_folder="static" if ui else None)
    app.config["MAX_CONTENT_LENGTH"] = max_request_bytes
    if ui:
        add_page(app, repository)

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
        except RecursionError:  # the client's error, not the server's: 400
            raise ServingError("JSON Parse error: the body nests arrays or objects too deeply.") from None
        model = repository.resolve(name, version, label)
        try:
            request_format, signature, inputs = decode_predict_request(document, model)
        except RecursionError:
            raise ServingError("JSON Value: an input nests lists more deeply than any signature takes.") from None
        return encode_predict_response(run_signature(signature, inputs, max_request_rows, batcher), request_format)

    return app


def make_server(
    repository,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    max_request_bytes=DEFAULT_MAX_REQUEST_BYTES,
    threads=DEFAULT_THREADS,
    max_request_rows=DEFAULT_MAX_REQUEST_ROWS,
    batcher=None,
    ui=True,
):
    """A waitress server for `repository`, to `.run()`; port 0 picks a free one (`.effective_port`);
    `ui`: the page too (`create_app`)."""
    return waitress.create_server(
        create_app(repository, max_request_bytes, max_request_rows, batcher, ui),
        host=host,
        port=port,
        threads=threads,
        # waitress refuses larger bodies itself, in plain text; up to here the app's JSON 413 answers.
        max_request_body_size=2 * max_request_bytes,
        ident="zoo serve",
    )
