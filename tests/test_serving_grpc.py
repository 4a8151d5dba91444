"""`zoo.serving.grpc` (`zoo serve --grpc-port`): TF Serving's gRPC API through tensorflow-serving-api's own stubs."""

import re

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_shape_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tests.conftest import SERVING_TASKS, assert_outputs_equal
from zoo.serving import ModelRepository, make_grpc_server
from zoo.serving.protos import proto_json


@pytest.fixture(scope="module")
def grpc_served(tiny_exports):
    """({task name: TinyExport}, prediction stub, model stub) of a gRPC server in this process."""
    base = next(iter(tiny_exports.values())).path.parent.parent
    repository = ModelRepository(base, poll_seconds=60.0)
    repository.start()
    server, port = make_grpc_server(repository, "127.0.0.1", 0, max_request_bytes=2**20, threads=4,
                                    max_request_rows=50)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield (
        tiny_exports,
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()
    server.stop(grace=None)
    repository.stop()


def predict_request(model_name, inputs, **spec):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    for name, values in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
    return request


@pytest.mark.parametrize("task_name", sorted(SERVING_TASKS))
def test_predict_equals_the_in_memory_model(grpc_served, task_name):
    exports, predictions, _ = grpc_served
    export = exports[task_name]
    name = export.path.parent.name
    response = predictions.Predict(predict_request(name, export.examples, version=1))
    assert response.model_spec.name == name and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    assert_outputs_equal({key: tf.make_ndarray(value) for key, value in response.outputs.items()}, export.expected())


def test_output_filter_status_and_metadata(grpc_served):
    exports, predictions, models = grpc_served
    export = exports["forecasting"]
    name = export.path.parent.name
    request = predict_request(name, export.examples)
    request.output_filter.append("forecast")
    response = predictions.Predict(request)
    assert list(response.outputs) == ["forecast"]
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["forecast"]), export.expected()["forecast"], atol=1e-6)

    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = name
    status = proto_json(models.GetModelStatus(status_request))
    assert status["model_version_status"] == [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]

    metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    metadata_request.model_spec.name = name
    metadata = predictions.GetModelMetadata(metadata_request)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signature_defs)
    inputs = signature_defs.signature_def["serving_default"].inputs
    assert list(inputs) == ["history"] and inputs["history"].dtype == tf.float32.as_datatype_enum


def declared_only(shape, values=()):
    """A float32 TensorProto that declares `shape` and carries only `values` (TensorFlow would fill the rest)."""
    proto = tf.make_tensor_proto(np.zeros(0, "float32"))
    proto.ClearField("tensor_content")
    proto.tensor_shape.ClearField("dim")
    proto.tensor_shape.dim.extend([tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape])
    proto.float_val.extend(values)
    return proto


@pytest.mark.parametrize(
    "change, code, message",
    [
        (lambda r: setattr(r.model_spec, "name", "nope"), grpc.StatusCode.NOT_FOUND, "Servable not found"),
        (lambda r: r.model_spec.version.__setattr__("value", 7), grpc.StatusCode.NOT_FOUND, r"Specific\(.*, 7\)"),
        (lambda r: r.inputs["history"].CopyFrom(tf.make_tensor_proto(["a"])), grpc.StatusCode.INVALID_ARGUMENT,
         "Input 'history': the signature takes float32, got string"),
        (lambda r: r.inputs["extra"].CopyFrom(tf.make_tensor_proto([1.0])), grpc.StatusCode.INVALID_ARGUMENT,
         r"Unknown input\(s\) \['extra'\]"),
        (lambda r: r.inputs["history"].CopyFrom(tf.make_tensor_proto(np.zeros((0, 12), "float32"))),
         grpc.StatusCode.INVALID_ARGUMENT, "empty batch"),
        (lambda r: r.inputs["history"].CopyFrom(tf.make_tensor_proto(np.zeros(12, "float32"))),
         grpc.StatusCode.INVALID_ARGUMENT, r"Input 'history' has shape \[12\]"),
        (lambda r: r.output_filter.append("nope"), grpc.StatusCode.INVALID_ARGUMENT, "output_filter"),
        (lambda r: r.inputs["history"].CopyFrom(tf.make_tensor_proto(np.zeros((51, 12), "float32"))),
         grpc.StatusCode.RESOURCE_EXHAUSTED, r"Input 'history' has 51 rows; this server takes at most 50"),
        (lambda r: setattr(r.model_spec, "signature_name", "nope"), grpc.StatusCode.INVALID_ARGUMENT,
         '"nope" not found'),
        # A shape declared with no values: refused before anything is allocated (was: 37 GiB asked for).
        (lambda r: r.inputs["history"].CopyFrom(declared_only([100000, 100000])), grpc.StatusCode.RESOURCE_EXHAUSTED,
         r"Input 'history' has 100000 rows; this server takes at most 50"),
        (lambda r: r.inputs["history"].CopyFrom(declared_only([50, 1000000])), grpc.StatusCode.INVALID_ARGUMENT,
         r"Input 'history': its TensorProto declares shape \[50, 1000000\] \(50,000,000 values\) and carries 0"),
        (lambda r: r.inputs["history"].CopyFrom(declared_only([2, 12], values=[1.0])), grpc.StatusCode.INVALID_ARGUMENT,
         r"declares shape \[2, 12\] \(24 values\) and carries 1: send every value"),
    ],
)
def test_bad_requests_get_tf_servings_status_codes_and_the_server_keeps_serving(grpc_served, change, code, message):
    exports, predictions, _ = grpc_served
    export = exports["forecasting"]
    request = predict_request(export.path.parent.name, export.examples)
    change(request)
    with pytest.raises(grpc.RpcError) as caught:
        predictions.Predict(request)
    assert caught.value.code() == code
    assert caught.value.details() and re.search(message, caught.value.details()), caught.value.details()
    assert predictions.Predict(predict_request(export.path.parent.name, export.examples)).outputs["forecast"]


def test_classify_is_unimplemented(grpc_served):
    _, predictions, _ = grpc_served
    from tensorflow_serving.apis import classification_pb2

    with pytest.raises(grpc.RpcError) as caught:
        predictions.Classify(classification_pb2.ClassificationRequest())
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
