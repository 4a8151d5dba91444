"""TF Serving's gRPC API over a `ModelRepository` (`zoo serve --grpc-port 8500`).

A client written with tensorflow-serving-api's stubs works unchanged against
`zoo serve` and `tensorflow_model_server`:

    channel = grpc.insecure_channel("localhost:8500")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "forecasting-gru"
    request.inputs["history"].CopyFrom(tf.make_tensor_proto(histories, tf.float32))
    forecast = tf.make_ndarray(stub.Predict(request).outputs["forecast"])

Served: `PredictionService.Predict` (with `output_filter`), `.GetModelMetadata`
(`signature_def`) and `ModelService.GetModelStatus`. Tensors travel as TensorProtos,
so nothing is parsed or printed as text: this is the low-overhead path for small
models. Errors carry TF Serving's codes: NOT_FOUND for an unknown model or version,
INVALID_ARGUMENT for a bad request, UNIMPLEMENTED for Classify/Regress/MultiInference.
"""

import contextlib
from concurrent import futures

import grpc  # grpcio, not this module (zoo.serving.grpc): imports are absolute
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from zoo.layout import SERVING_DEFAULT
from zoo.serving.errors import ServingError
from zoo.serving.protos import model_spec, signature_def_map
from zoo.serving.signatures import DEFAULT_MAX_REQUEST_ROWS, find_signature, run_signature

STATUS_CODES = {
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    501: grpc.StatusCode.UNIMPLEMENTED,
}


def requested(spec):
    """(name, version, label) of a request's ModelSpec; version and label are None when unset."""
    if not spec.name:
        raise ServingError("Missing ModelSpec name: set model_spec.name to the model folder's name.")
    version = spec.version.value if spec.HasField("version") else None
    label = spec.version_label if spec.HasField("version_label") else None
    return spec.name, version, label


def tensors_to_arrays(protos, specs, max_request_rows=DEFAULT_MAX_REQUEST_ROWS):
    """`{input: numpy array}` from a PredictRequest's `{input: TensorProto}`.

    An input the signature lacks, or a TensorProto of another dtype, is refused
    here, in TensorProto terms; `zoo.loading.Signature` checks the rest (missing
    inputs, shapes, an empty batch) as it does for every caller.
    """
    unknown = sorted(set(protos) - set(specs))
    if unknown:
        raise ServingError(f"Unknown input(s) {unknown}; the signature takes {sorted(specs)}.")
    return {name: tensor_to_array(proto, specs[name], name, max_request_rows) for name, proto in protos.items()}


# The TensorProto field that lists a dtype's values when `tensor_content` is empty.
VALUE_FIELDS = {
    tf.float32: "float_val", tf.float64: "double_val", tf.float16: "half_val", tf.bfloat16: "half_val",
    tf.int32: "int_val", tf.int16: "int_val", tf.int8: "int_val", tf.uint8: "int_val", tf.uint16: "int_val",
    tf.int64: "int64_val", tf.uint32: "uint32_val", tf.uint64: "uint64_val", tf.bool: "bool_val",
    tf.string: "string_val",
}


def check_declared_size(proto, dtype, name, max_request_rows):
    """A TensorProto's declared shape, checked against the values it carries and the row limit before
    anything is allocated: TensorFlow would fill a declared shape from no values at all (a 46-byte
    request declaring [100000, 100000] asks for 37 GiB). RESOURCE_EXHAUSTED (413) beyond the rows a
    request may carry, INVALID_ARGUMENT when the values carried are not the values declared."""
    dims = [dim.size for dim in proto.tensor_shape.dim]
    if any(size < 0 for size in dims) or proto.tensor_shape.unknown_rank:
        raise ServingError(f"Input {name!r}: a TensorProto's shape must be known, got {dims}.")
    if dims and dims[0] > max_request_rows:
        raise ServingError(f"Input {name!r} has {dims[0]} rows; this server takes at most {max_request_rows} "
                           "per request (zoo serve --max-batch-size): send smaller batches.", 413)
    declared = 1
    for size in dims:
        declared *= size
    if proto.tensor_content:
        carried = len(proto.tensor_content) // max(1, dtype.size)
    else:
        carried = len(getattr(proto, VALUE_FIELDS.get(dtype, "float_val")))
    if carried != declared:
        raise ServingError(f"Input {name!r}: its TensorProto declares shape {dims} ({declared:,} values) and "
                           f"carries {carried:,}: send every value.")


def tensor_to_array(proto, spec, name, max_request_rows=DEFAULT_MAX_REQUEST_ROWS):
    """A TensorProto as numpy, after checking its dtype against the signature's input and its
    declared size against its content (`check_declared_size`)."""
    if proto.dtype != spec.dtype.as_datatype_enum:
        got = tf.dtypes.as_dtype(proto.dtype).name if proto.dtype else "no dtype"
        raise ServingError(f"Input {name!r}: the signature takes {spec.dtype.name}, got {got}.")
    check_declared_size(proto, spec.dtype, name, max_request_rows)
    try:
        return tf.make_ndarray(proto)
    except (ValueError, TypeError) as error:
        raise ServingError(f"Input {name!r}: not a valid TensorProto: {error}") from None


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, repository, max_request_rows=DEFAULT_MAX_REQUEST_ROWS, batcher=None):
        self.repository, self.max_request_rows, self.batcher = repository, max_request_rows, batcher

    def Predict(self, request, context):
        with serving_errors(context):
            model = self.repository.resolve(*requested(request.model_spec))
            signature = find_signature(model, request.model_spec.signature_name or SERVING_DEFAULT)
            outputs = run_signature(signature, tensors_to_arrays(request.inputs, signature.input_specs,
                                                                 self.max_request_rows),
                                    self.max_request_rows, self.batcher)
            wanted = list(request.output_filter) or sorted(outputs)
            missing = sorted(set(wanted) - set(outputs))
            if missing:
                raise ServingError(f"output_filter names {missing}, not outputs of the signature {sorted(outputs)}.")
            response = predict_pb2.PredictResponse(model_spec=model_spec(model, signature.name))
            for name in wanted:
                response.outputs[name].CopyFrom(tf.make_tensor_proto(outputs[name]))
            return response

    def GetModelMetadata(self, request, context):
        with serving_errors(context):
            if list(request.metadata_field) != ["signature_def"]:
                raise ServingError(
                    f"metadata_field {list(request.metadata_field)}: the one field served is 'signature_def'."
                )
            model = self.repository.resolve(*requested(request.model_spec))
            response = get_model_metadata_pb2.GetModelMetadataResponse(model_spec=model_spec(model))
            response.metadata["signature_def"].Pack(signature_def_map(model))
            return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, repository):
        self.repository = repository

    def GetModelStatus(self, request, context):
        with serving_errors(context):
            return self.repository.status(*requested(request.model_spec))


@contextlib.contextmanager
def serving_errors(context):
    """Answers a ServingError with the gRPC status TF Serving would use."""
    try:
        yield
    except ServingError as error:
        context.abort(STATUS_CODES.get(error.status, grpc.StatusCode.INVALID_ARGUMENT), error.message)


def make_grpc_server(repository, host, port, max_request_bytes, threads, max_request_rows=DEFAULT_MAX_REQUEST_ROWS,
                     batcher=None):
    """A started gRPC server for `repository` on host:port (0: a free one); returns (server, port)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="zoo-serve-grpc"),
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", -1),
        ],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(repository, max_request_rows, batcher), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(repository), server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise OSError(f"zoo serve: cannot bind the gRPC port {host}:{port} (in use?).")
    server.start()
    return server, bound
