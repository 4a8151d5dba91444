"""Load test of `zoo serve`: throughput and latency per exported model, against in-process calls.

    python benchmarks/serving_load.py --model-base-path saved_models [--protocol rest grpc]

Starts `python -m zoo.serve` on free local ports (REST and gRPC) over
--model-base-path. For each model (default: all) and protocol, the request is the
first --batch-size row(s) of its warm-up request: REST in row format
(`{"instances": [...]}`), gRPC a PredictRequest of TensorProtos through
tensorflow-serving-api's stub. After --warmup requests, it sends
--requests requests at each --concurrency (one client thread and one keep-alive
connection or channel per concurrent client) and reports requests/s, p50 and p99 latency and
errors (non-200 answers, gRPC errors or failed connections). The baseline is the same inputs
through the SavedModel in this process (`zoo.load`), one call at a time, measured
in blocks of --block calls interleaved with blocks of served requests at
concurrency 1, so load from elsewhere on the machine hits both alike:
overhead = served p50 / in-process p50 - 1 (target: at most 20%).

    python benchmarks/serving_load.py --model-base-path saved_models --batching compare --protocol rest

--batching on serves with `zoo serve --enable-batching` (and --batching-parameters-file
if given); compare starts a second server that batches, and runs every concurrency
level on both, one after the other, so both see the same machine.
"""

import argparse
import http.client
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import zoo
from zoo.layout import model_names, read_warmup_requests, versions
from zoo.serving.rest import row_request


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(base_path, port, grpc_port, options=()):
    """A `zoo serve` process (with `options`, more flags) once it answers on `port`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "zoo.serve", "--port", str(port), "--grpc-port", str(grpc_port),
         "--model-base-path", str(base_path), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"serving_load: zoo serve exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/v1/models/none")
            connection.getresponse().read()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("serving_load: zoo serve did not answer within 120 s")


class RestClient:
    """One keep-alive connection POSTing the model's row-format request; a call is True when answered 200."""

    def __init__(self, port, name, examples):
        self.port, self.path = port, f"/v1/models/{name}:predict"
        self.body = json.dumps(row_request(examples)).encode()
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def __call__(self):
        try:
            self.connection.request("POST", self.path, body=self.body, headers={"Content-Type": "application/json"})
            response = self.connection.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return False

    def close(self):
        self.connection.close()


class GrpcClient:
    """One channel calling PredictionService.Predict; a call is True when it succeeds."""

    def __init__(self, port, name, examples):
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.request = predict_pb2.PredictRequest()
        self.request.model_spec.name = name
        for key, values in examples.items():
            self.request.inputs[key].CopyFrom(tf.make_tensor_proto(values))

    def __call__(self):
        try:
            self.stub.Predict(self.request, timeout=60)
            return True
        except grpc.RpcError:
            return False

    def close(self):
        self.channel.close()


def load(make_client, requests, concurrency):
    """(requests/s, latencies in s, errors) for `requests` calls spread over `concurrency` clients."""
    remaining = iter(range(requests))
    lock = threading.Lock()
    latencies, errors = [], [0]

    def run_client():
        client = make_client()
        while True:
            with lock:
                if next(remaining, None) is None:
                    break
            start = time.perf_counter()
            ok = client()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok
        client.close()

    threads = [threading.Thread(target=run_client) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return requests / (time.perf_counter() - start), np.array(latencies), errors[0]


def in_process(model, examples, requests):
    """Latencies of calling the SavedModel directly, one call at a time."""
    latencies = []
    for _ in range(requests):
        start = time.perf_counter()
        model(examples)
        latencies.append(time.perf_counter() - start)
    return np.array(latencies)


def interleaved(make_client, model, examples, requests, block):
    """(served latencies, in-process latencies, served errors) at concurrency 1, block by block."""
    served, direct, errors = [], [], 0
    for _ in range(max(1, requests // block)):
        _, latencies, block_errors = load(make_client, block, 1)
        served.append(latencies)
        errors += block_errors
        direct.append(in_process(model, examples, block))
    return np.concatenate(served), np.concatenate(direct), errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-base-path", default="saved_models")
    parser.add_argument("--models", nargs="*", help="model folder names (default: all)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    parser.add_argument("--warmup", type=int, default=30, help="requests before measuring")
    parser.add_argument("--batch-size", type=int, default=1, help="rows per request")
    parser.add_argument("--protocol", nargs="+", choices=["rest", "grpc"], default=["rest", "grpc"])
    parser.add_argument(
        "--block", type=int, default=20, help="calls per interleaved block at concurrency 1"
    )
    parser.add_argument("--batching", choices=["off", "on", "compare"], default="off",
                        help="serve with --enable-batching, or compare a server with and one without")
    parser.add_argument("--batching-parameters-file", help="zoo serve's, for the batching server")
    args = parser.parse_args(argv)
    base = pathlib.Path(args.model_base_path)
    names = args.models or model_names(base)
    if not names:
        sys.exit(f"serving_load: no exported models in {base}/.")

    batching = ["--enable-batching"] + (
        ["--batching-parameters-file", args.batching_parameters_file] if args.batching_parameters_file else [])
    modes = {"off": [""], "on": ["batching"], "compare": ["", "batching"]}[args.batching]
    servers, ports = {}, {}
    clients = {"rest": RestClient, "grpc": GrpcClient}
    rows = []
    try:
        for mode in modes:
            ports[mode] = {"rest": free_port(), "grpc": free_port()}
            servers[mode] = start_server(base, ports[mode]["rest"], ports[mode]["grpc"], batching if mode else ())
        for name in names:
            version_dir = base / name / str(versions(base / name)[-1])
            (_, warmup), *_ = read_warmup_requests(version_dir)
            examples = {key: values[: args.batch_size] for key, values in warmup.items()}
            model = zoo.load(version_dir)
            in_process(model, examples, args.warmup)
            for protocol in args.protocol:
                def make_client(mode, protocol=protocol):
                    return lambda: clients[protocol](ports[mode][protocol], name, examples)

                label = f"{name} ({protocol})"
                for mode in modes:
                    load(make_client(mode), args.warmup, 1)
                served, direct, served_errors = interleaved(make_client(modes[0]), model, examples, args.requests,
                                                            args.block)
                rows.append((label, modes[0], "1, interleaved", 1 / served.mean(), served, served_errors, direct))
                for concurrency in args.concurrency:
                    for mode in modes:
                        throughput, latencies, errors = load(make_client(mode), args.requests, concurrency)
                        rows.append((label, mode, concurrency, throughput, latencies, errors, None))
    finally:
        for server in servers.values():
            server.terminate()
            server.wait()

    print(f"\n{args.requests} requests per level, {args.batch_size} row(s) per request\n")
    print(
        "| model | batching | concurrency | requests/s | p50 ms | p99 ms | errors | in-process p50 ms | overhead (p50) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, mode, concurrency, throughput, latencies, errors, direct in rows:
        p50, p99 = np.percentile(latencies, [50, 99]) * 1000
        baseline = " |"
        if direct is not None:
            direct_p50 = np.percentile(direct, 50) * 1000
            baseline = f"{direct_p50:.2f} | {p50 / direct_p50 - 1:+.0%}"
        print(
            f"| {name} | {'on' if mode else 'off'} | {concurrency} | {throughput:.1f} | {p50:.2f} | {p99:.2f} "
            f"| {errors} | {baseline} |"
        )


if __name__ == "__main__":
    main()
