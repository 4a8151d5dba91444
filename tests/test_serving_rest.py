"""`zoo.serving.rest` against TF Serving's REST API: status, metadata, predict, JSON codec, errors.

A server runs in-process on a free port over the tiny exports of every task in
SERVING_TASKS (conftest.py); one test compares with a real `tensorflow_model_server`
when one is on PATH.
"""

import base64
import concurrent.futures
import io
import json
import shutil
import subprocess

import grpc
import numpy as np
import pytest
import soundfile
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.conftest import SERVING_TASKS, RestClient, assert_outputs_equal, free_port, start_rest_server, wait_for
from zoo.export import write_models_config
from zoo.layout import MODELS_CONFIG
from zoo.serving import ServingError
from zoo.serving.rest import array_to_json, encode_predict_response, json_to_array, row_request

MAX_REQUEST_BYTES = 8 * 2**20  # the test server's --max-request-bytes; a few waveforms fit
MAX_REQUEST_ROWS = 50  # and its --max-batch-size


@pytest.fixture(scope="module")
def served(tiny_exports):
    """{task name: TinyExport} exported under one base folder, and a client of its server."""
    base = next(iter(tiny_exports.values())).path.parent.parent
    client, _, stop = start_rest_server(base, max_request_bytes=MAX_REQUEST_BYTES, max_request_rows=MAX_REQUEST_ROWS)
    yield tiny_exports, client
    stop()


@pytest.fixture
def sentiment(served):
    exports, client = served
    return exports["sentiment"], client, f"/v1/models/{exports['sentiment'].path.parent.name}"


# ------------------------------------------------------------ status, metadata


@pytest.mark.parametrize("suffix", ["", "/versions/1"])
def test_model_status_is_tf_servings_json(served, suffix):
    exports, client = served
    for export in exports.values():
        assert client.get(f"/v1/models/{export.path.parent.name}{suffix}") == (
            200,
            {
                "model_version_status": [
                    {
                        "version": "1",
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ]
            },
        )


def test_metadata_lists_signature_inputs_and_outputs(served):
    exports, client = served
    for export in exports.values():
        status, metadata = client.get(f"/v1/models/{export.path.parent.name}/metadata")
        assert status == 200
        assert metadata["model_spec"] == {
            "name": export.path.parent.name,
            "version": "1",
            "signature_name": "",
        }
        signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert signature["method_name"] == "tensorflow/serving/predict"
        assert set(signature["inputs"]) == set(export.examples)
        assert set(signature["outputs"]) == set(export.expected())
    text = exports["sentiment"]
    signature = client.get(f"/v1/models/{text.path.parent.name}/versions/1/metadata")[1]
    inputs = signature["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert inputs["text"]["dtype"] == "DT_STRING"
    assert inputs["text"]["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}


# -------------------------------------------------------------------- predict


@pytest.mark.parametrize("task_name", sorted(SERVING_TASKS))
def test_row_and_columnar_predictions_equal_the_in_memory_model(served, task_name):
    exports, client = served
    export = exports[task_name]
    path = f"/v1/models/{export.path.parent.name}"
    expected = export.expected()
    names = sorted(expected)

    status, body = client.predict(path, row_request(export.examples))
    assert status == 200, body
    rows = body["predictions"]
    assert len(rows) == len(next(iter(export.examples.values())))
    if len(names) == 1:
        assert_outputs_equal({names[0]: rows}, expected)
    else:
        assert_outputs_equal({name: [row[name] for row in rows] for name in names}, expected)

    columns = {name: array_to_json(values, name) for name, values in export.examples.items()}
    status, body = client.predict(
        path + "/versions/1", {"inputs": columns, "signature_name": "serving_default"}
    )
    assert status == 200, body
    assert_outputs_equal(body["outputs"] if len(names) > 1 else {names[0]: body["outputs"]}, expected)


def test_single_input_rows_may_be_objects_and_strings_may_be_b64(sentiment):
    export, client, path = sentiment
    texts = [text.decode() for text in export.examples["text"]]
    plain = client.predict(path, {"instances": texts})
    as_objects = client.predict(path, {"instances": [{"text": text} for text in texts]})
    as_b64 = client.predict(
        path, {"instances": [{"b64": base64.b64encode(t.encode()).decode()} for t in texts]}
    )
    columnar_b64 = client.predict(
        path, {"inputs": [{"b64": base64.b64encode(t.encode()).decode()} for t in texts]}
    )
    assert plain[0] == 200 and plain == as_objects == as_b64
    assert columnar_b64 == (
        200,
        {
            "outputs": {
                name: [row[name] for row in plain[1]["predictions"]]
                for name in ("class_id", "label", "probabilities")
            }
        },
    )
    assert set(plain[1]["predictions"][0]) == {"class_id", "label", "probabilities"}
    assert plain[1]["predictions"][0]["label"] in ("negative", "positive")


def test_response_encoding_follows_tf_serving():
    one_output = {"scores": np.array([[0.2, 1.0], [3e38, np.nan]], np.float32)}
    assert encode_predict_response(one_output, "row") == {
        "predictions": [[0.2, 1.0], [3e38, pytest.approx(np.nan, nan_ok=True)]]
    }
    assert (
        json.dumps(encode_predict_response(one_output, "columnar"))
        == '{"outputs": [[0.2, 1.0], [3e+38, NaN]]}'
    )
    two = {"id": np.array([1, 2]), "image_bytes": np.array([b"\xff\x00", b"ok"], dtype=object)}
    assert encode_predict_response(two, "row") == {
        "predictions": [
            {"id": 1, "image_bytes": {"b64": "/wA="}},
            {"id": 2, "image_bytes": {"b64": "b2s="}},
        ]
    }
    assert array_to_json(np.array([[b"caf\xc3\xa9", b"\xff"]], dtype=object), "label") == [
        ["café", {"b64": "/w=="}]
    ]


def test_json_numbers_convert_like_the_element_wise_path():
    waveform = np.random.default_rng(0).uniform(-1, 1, (2, 3000)).astype("float32")
    spec = tf.TensorSpec([None, None], tf.float32)
    converted = json_to_array(json.loads(json.dumps(waveform.tolist())), spec, "waveform")
    assert converted.dtype == np.float32
    np.testing.assert_array_equal(converted, waveform)
    for value, message in [
        ([[1.0, 2.0], [3.0]], r"Input 'x'\[1\] has 1 values where the first element has 2"),
        ([1.0, True], r"Input 'x'\[1\]: JSON value true \(Bool\) is not of expected type float32"),
    ]:
        with pytest.raises(ServingError, match=message):
            json_to_array(value, spec, "x")


# ------------------------------------------------------------------ bad input

# fmt: off
BAD_REQUESTS = [  # (request body, the error message's start); each answered with a 400
    (b"{not json", "JSON Parse error: Expecting property name enclosed in double quotes: line 1 column 2"),
    (b"", "JSON Parse error: Expecting value: line 1 column 1"),
    (b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "JSON Parse error: the body nests arrays or objects"),
    (b'{"instances": ' + b"[" * 900 + b'"a"' + b"]" * 900 + b"}", "Input 'text' nests lists 900 deep; the signature takes [-1]"),
    (["a fine film"], "JSON Value: the request body is not a JSON object."),
    ({"instances": ["a"], "extra": 1}, "Unknown key(s) ['extra'] in the request; a predict request has"),
    ({"instances": ["a"], "inputs": ["a"]},
     "Not formatted correctly: expecting only one of 'inputs' or 'instances' keys to exist."),
    ({"signature_name": "serving_default"}, "Missing 'inputs' or 'instances' key"),
    ({"instances": ["a"], "signature_name": 3}, "'signature_name' key must be a string value."),
    ({"instances": ["a"], "signature_name": "nope"}, 'Serving signature name: "nope" not found in signature def'),
    ({"instances": "a fine film"}, "Expecting 'instances' to be a list/array."),
    ({"instances": [1, 2]}, "Input 'text'[0]: JSON value 1 (Number) is not of expected type string."),
    ({"inputs": {"text": [True]}}, "Input 'text'[0]: JSON value true (Bool) is not of expected type string."),
    ({"instances": [["a"], ["b"]]}, "Input 'text' has shape [2, 1]; the signature takes [-1] (-1: any size)."),
    ({"inputs": [["a", "b"], ["c"]]}, "Input 'text'[1] has 1 values where the first element has 2: tensors"),
    ({"inputs": "a"}, "Input 'text' has shape []; the signature takes [-1]"),
    ({"instances": []}, "No values in 'instances' array: send at least one row."),
    ({"inputs": []}, "Input 'text' has an empty batch (0 rows): send at least one row."),
    ({"inputs": {"text": []}}, "Input 'text' has an empty batch (0 rows): send at least one row."),
    ({"inputs": {"text": ["a"], "more": ["b"]}}, "Unknown input(s) ['more'] in 'inputs'; the signature takes"),
    ({"inputs": {"txt": ["a"]}}, "Unknown input(s) ['txt'] in 'inputs'"),
    ({"instances": [{"text": "a"}, "b"]}, "Expecting an object at item 1 of 'instances', like item 0."),
    ({"instances": [{"text": "a", "x": 1}]}, "Failed to process element: 0 of 'instances' list: keys"),
    ({"instances": [{"b64": "not base64!"}]}, "Input 'text'[0]: unable to base64 decode 'not base64!'."),
]
# fmt: on


@pytest.mark.parametrize("body, message", BAD_REQUESTS)
def test_bad_predict_requests_get_a_clear_400_and_the_server_keeps_serving(sentiment, body, message):
    export, client, path = sentiment
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    answer = client.call("POST", path + ":predict", body)
    assert answer[0] == 400 and set(answer[1]) == {"error"}
    assert answer[1]["error"].startswith(message), answer[1]["error"]
    assert client.predict(path, {"instances": ["a fine film"]})[0] == 200


# fmt: off
@pytest.mark.parametrize("method, url, status, message", [
    ("POST", "/v1/models/nope:predict", 404, "Servable not found for request: Latest(nope)"),
    ("POST", "{model}/versions/9:predict", 404, "Servable not found for request: Specific({name}, 9)"),
    ("POST", "{model}/labels/stable:predict", 400, "Unrecognized servable version label: stable"),
    ("GET", "/v1/models/nope", 404, "Could not find any versions of model nope"),
    ("GET", "{model}/versions/9", 404, "Could not find version 9 of model {name}"),
    ("GET", "/v1/models/nope/metadata", 404, "Servable not found for request: Latest(nope)"),
    ("GET", "{model}/versions/9/metadata", 404, "Servable not found for request: Specific({name}, 9)"),
    ("GET", "/v1/models", 400, "Missing model name in request."),
    ("GET", "/v1/modelz/x", 400, "Malformed request: GET /v1/modelz/x"),
    ("POST", "{model}:classify", 501, "zoo serve answers :predict only, not :classify."),
    ("GET", "/nothing/here", 404, "Not Found: GET /nothing/here"),  # "/" is the page (zoo.serving.page)
    ("PUT", "{model}:predict", 405, "Method Not Allowed: PUT"),
])
# fmt: on
def test_unknown_models_versions_and_urls(sentiment, method, url, status, message):
    export, client, path = sentiment
    name = export.path.parent.name
    answer = client.call(method, url.format(model=path, name=name), b'{"instances": ["a"]}')
    assert answer == (status, {"error": answer[1]["error"]})
    assert answer[1]["error"].startswith(message.format(name=name)), answer[1]["error"]


def test_oversized_body_is_a_413_and_the_server_keeps_serving(sentiment):
    export, client, path = sentiment
    body = json.dumps({"instances": ["word " * (MAX_REQUEST_BYTES // 5)]}).encode()
    assert client.call("POST", path + ":predict", body) == (
        413,
        {
            "error": (
                f"Request body is larger than the server's limit of {MAX_REQUEST_BYTES} bytes "
                "(zoo serve --max-request-bytes)."
            )
        },
    )
    assert client.predict(path, {"instances": ["a fine film"]})[0] == 200


def test_a_batch_over_the_row_limit_is_a_413_naming_it_in_either_format(sentiment):
    export, client, path = sentiment
    message = (f"Input 'text' has 5000 rows; this server takes at most {MAX_REQUEST_ROWS} per request "
               "(zoo serve --max-batch-size): send smaller batches.")
    assert client.predict(path, {"instances": ["a fine film"] * 5000}) == (413, {"error": message})
    assert client.predict(path, {"inputs": {"text": ["a fine film"] * 5000}}) == (413, {"error": message})
    assert client.predict(path, {"instances": ["a fine film"] * MAX_REQUEST_ROWS})[0] == 200


def test_concurrent_clients_get_their_own_answers(sentiment):
    export, client, path = sentiment
    texts = [text.decode() for text in export.examples["text"]]
    expected = export.expected()["probabilities"]

    def one(index):
        if index % 4 == 3:  # bad requests mixed in
            return client.predict(path, {"instances": [index]})[0]
        status, body = client.predict(path, {"instances": [texts[index % len(texts)]]})
        np.testing.assert_allclose(
            body["predictions"][0]["probabilities"], expected[index % len(texts)], atol=1e-6
        )
        return status

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(32)))
    assert statuses == [400 if i % 4 == 3 else 200 for i in range(32)]


# ------------------------------------------------------------- real TF Serving


@pytest.mark.skipif(
    shutil.which("tensorflow_model_server") is None,
    reason="tensorflow_model_server is not on PATH (install TF Serving to compare with it)",
)
def test_real_tf_serving_answers_like_zoo_serve(served):
    exports, zoo_client = served
    base = next(iter(exports.values())).path.parent.parent
    write_models_config(base, base_path_prefix="")  # absolute paths, as this server sees them
    port, grpc_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            "tensorflow_model_server",
            f"--port={grpc_port}",
            f"--rest_api_port={port}",
            f"--model_config_file={base / MODELS_CONFIG}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        client = RestClient(port)
        for export in exports.values():
            path = f"/v1/models/{export.path.parent.name}"
            assert wait_for(client, path, process) == zoo_client.get(path)
            status, body = client.predict(path, row_request(export.examples))
            assert status == 200, body
            served_body = zoo_client.predict(path, row_request(export.examples))[1]
            assert json.dumps(body, sort_keys=True) == json.dumps(served_body, sort_keys=True) or _close(
                body, served_body
            )
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:  # the gRPC API too
                request = predict_pb2.PredictRequest()
                request.model_spec.name = export.path.parent.name
                for name, values in export.examples.items():
                    request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
                response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
                assert_outputs_equal({k: tf.make_ndarray(v) for k, v in response.outputs.items()}, export.expected())
    finally:
        process.terminate()
        process.wait(timeout=30)


def _close(a, b):
    """Equal JSON up to 1e-6 in numbers."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-6
    return a == b


def test_a_speech_model_takes_a_wav_file_posted_as_base64(served):
    """What `curl` sends: the recording's bytes, base64 in the JSON, to the `wav` signature; it answers
    as the waveform signature does for the file's samples."""
    exports, client = served
    export = exports["ctc_speech"]
    path = f"/v1/models/{export.path.parent.name}"
    samples = export.examples["waveform"][0][: export.examples["length"][0]]
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 8000, format="WAV", subtype="PCM_16")
    status, body = client.predict(path, {"signature_name": "wav", "instances": [
        {"b64": base64.b64encode(buffer.getvalue()).decode()}]})
    assert status == 200, body
    decoded, _ = soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32")
    _, expected = client.predict(path, {"instances": [{"waveform": decoded.tolist(), "length": len(decoded)}]})
    assert body["predictions"][0]["text"] == expected["predictions"][0]["text"]
    np.testing.assert_allclose(body["predictions"][0]["logits"], expected["predictions"][0]["logits"], atol=1e-3)
