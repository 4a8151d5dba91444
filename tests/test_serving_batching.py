"""`zoo.serving.batching`: merging concurrent requests, each its own rows back, refusals kept
apart, the queue bounded, TF Serving's parameters file; and a batching server's answers."""

import concurrent.futures
import threading

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import assert_outputs_equal, start_rest_server
from zoo.serving import ServingError
from zoo.serving.batching import BatchingParameters, RequestBatcher
from zoo.serving.rest import row_request


class CountingSignature:
    """A stand-in signature: y = 2x row by row, refusing NaN rows as the zoo's guards do;
    records the rows of every call."""

    def __init__(self, gate=None):
        self.function = object()  # what requests to the same signature share
        self.calls = []
        self.gate = gate  # an Event each call waits for, to hold the batch thread
        self.entered = threading.Event()

    def run(self, tensors):
        self.entered.set()
        if self.gate:
            self.gate.wait(10)
        x = tensors["x"].numpy()
        self.calls.append(len(x))
        bad = np.flatnonzero(np.isnan(x).any(axis=tuple(range(1, x.ndim))))
        if len(bad):
            raise ValueError(f"Input 'x' row {bad[0]} holds NaN.")
        return {"y": 2 * x}


def run_concurrently(batcher, signature, requests):
    """Each request ({name: array}) from its own thread at once; results or exceptions, in order."""
    start = threading.Barrier(len(requests))

    def send(inputs):
        start.wait()
        try:
            return batcher.run(signature, {name: tf.constant(value) for name, value in inputs.items()})
        except Exception as error:  # noqa: BLE001 (the test looks at it)
            return error

    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


@pytest.fixture
def batcher():
    batchers = []

    def make(**parameters):
        batchers.append(RequestBatcher(BatchingParameters(**parameters)))
        return batchers[-1]

    yield make
    for each in batchers:
        each.stop()


def test_concurrent_requests_share_one_call_and_get_their_own_rows(batcher):
    signature = CountingSignature()
    requests = [{"x": np.full((rows, 3), index, "float32")} for index, rows in enumerate([1, 2, 1, 3, 1, 1])]
    results = run_concurrently(batcher(batch_timeout_micros=300_000), signature, requests)
    for request, result in zip(requests, results):
        np.testing.assert_array_equal(result["y"], 2 * request["x"])
    assert sum(signature.calls) == 9 and len(signature.calls) < len(requests)


def test_a_batch_holds_at_most_max_batch_size_rows(batcher):
    signature = CountingSignature()
    requests = [{"x": np.ones((1, 2), "float32")} for _ in range(10)]
    run_concurrently(batcher(max_batch_size=4, batch_timeout_micros=300_000), signature, requests)
    assert max(signature.calls) <= 4 and sum(signature.calls) == 10


def test_requests_of_other_shapes_are_not_merged(batcher):
    signature = CountingSignature()
    requests = [{"x": np.ones((1, 3), "float32")}, {"x": np.ones((1, 5), "float32")}] * 3
    results = run_concurrently(batcher(batch_timeout_micros=300_000), signature, requests)
    assert [result["y"].shape for result in results] == [(1, 3), (1, 5)] * 3
    assert sorted(signature.calls) == [3, 3]


def test_a_refused_row_fails_its_own_request_only_naming_its_own_row(batcher):
    signature = CountingSignature()
    bad = np.ones((2, 3), "float32")
    bad[1, 0] = np.nan
    requests = [{"x": np.ones((1, 3), "float32")}, {"x": bad}, {"x": np.zeros((1, 3), "float32")}]
    good, refused, other = run_concurrently(batcher(batch_timeout_micros=300_000), signature, requests)
    np.testing.assert_array_equal(good["y"], 2 * np.ones((1, 3)))
    np.testing.assert_array_equal(other["y"], np.zeros((1, 3)))
    assert isinstance(refused, ValueError) and str(refused) == "Input 'x' row 1 holds NaN."


def test_a_request_larger_than_a_batch_runs_alone(batcher):
    signature = CountingSignature()
    result = batcher(max_batch_size=4).run(signature, {"x": tf.ones((6, 2))})
    assert signature.calls == [6] and result["y"].shape == (6, 2)


def test_a_signature_without_a_batch_dimension_runs_alone(batcher):
    class ScalarSignature:
        function = object()

        def run(self, tensors):
            return {"state": np.zeros((int(tensors["batch_size"]), 4))}

    assert batcher().run(ScalarSignature(), {"batch_size": tf.constant(3)})["state"].shape == (3, 4)


def test_a_full_queue_is_a_503(batcher):
    gate = threading.Event()
    signature = CountingSignature(gate)
    queue = batcher(max_batch_size=2, max_enqueued_batches=1)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        running = pool.submit(queue.run, signature, {"x": tf.ones((1, 2))})  # holds the batch thread
        assert signature.entered.wait(10)
        waiting = pool.submit(queue.run, signature, {"x": tf.ones((2, 2))})  # fills the queue (2 rows)
        while not queue._waiting_rows:
            threading.Event().wait(0.01)
        with pytest.raises(ServingError) as refused:
            queue.run(signature, {"x": tf.ones((1, 2))})
        gate.set()
        assert running.result()["y"].shape == (1, 2) and waiting.result()["y"].shape == (2, 2)
    assert refused.value.status == 503
    assert "batch queue is full" in refused.value.message and "max_enqueued_batches" in refused.value.message


# ------------------------------------------------------------------ parameters


def test_parameters_file_in_tf_servings_text_format(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text("# TF Serving batching parameters\nmax_batch_size { value: 32 }\n"
                    "batch_timeout_micros {value:500}  # half a millisecond\nnum_batch_threads { value: 2 }\n")
    assert BatchingParameters.from_file(path) == BatchingParameters(
        max_batch_size=32, batch_timeout_micros=500, num_batch_threads=2
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("max_batch_size { value: 8 }\npad_variable_length_inputs { value: 1 }\n",
         "line 2: field 'pad_variable_length_inputs' is not one zoo serve takes"),
        ("max_batch_size { value: 8 }\n\nmax_batch_size: 8\n", "line 3: cannot read 'max_batch_size: 8'"),
        ("max_batch_size { value: 0 }\n", "batching parameter max_batch_size: 0; expected an integer from 1 to "
                                           "100,000."),
        ("batch_timeout_micros { value: -1 }\n", "batch_timeout_micros: -1; expected an integer from 0 to 60,000,000."),
        # was: no refusal, and a server building threads at ~150 MB/s
        ("num_batch_threads { value: 100000000 }\n", "num_batch_threads: 100000000; expected an integer from 1 to 256."),
        ("max_enqueued_batches { value: 10000000000 }\n", "max_enqueued_batches: 10000000000; expected an integer "
                                                           "from 1 to 100,000."),
    ],
)
def test_a_wrong_parameters_file_names_line_and_field(tmp_path, text, message):
    path = tmp_path / "batching.config"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        BatchingParameters.from_file(path)
    assert message in str(error.value)


# ------------------------------------------------------------------- a server


def test_a_batching_server_answers_each_request_as_the_model_does(tiny_exports):
    base = next(iter(tiny_exports.values())).path.parent.parent
    merger = RequestBatcher(BatchingParameters(batch_timeout_micros=20_000))
    client, _, stop = start_rest_server(base, batcher=merger)
    try:
        requests = []
        for export in tiny_exports.values():
            rows = len(next(iter(export.examples.values())))
            requests += [(export, {name: values[row : row + 1] for name, values in export.examples.items()})
                         for row in range(rows)]
        bad = {"history": np.full((1, 20), np.nan, "float32")}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(
                lambda request: client.predict(f"/v1/models/{request[0].path.parent.name}", row_request(request[1])),
                requests * 2 + [(tiny_exports["forecasting"], bad)],
            ))
        for (export, inputs), (status, body) in zip(requests * 2, answers):
            assert status == 200, body
            expected, rows = export.expected(inputs), body["predictions"]
            names = sorted(expected)
            assert_outputs_equal({name: [row[name] for row in rows] for name in names} if len(names) > 1
                                 else {names[0]: rows}, expected, rtol=1e-6)  # round-off of another batch size
        status, body = answers[-1]
        assert status == 400 and body["error"].startswith("Input 'history' row 0 "), body
    finally:
        stop()
        merger.stop()
