"""Soak test of `zoo serve`: many mixed requests at once, a new version dropped in midway.

    python benchmarks/soak.py --model-base-path saved_models            # 10,000 at concurrency 16
    python benchmarks/soak.py --model-base-path saved_models --enable-batching

Copies the latest version of each model (default: one per task of the shipped models)
into a temporary base folder as version 1 and serves it with `python -m zoo.serve`
(--poll-seconds 1, --max-batch-size 64). --concurrency clients, each on its own
keep-alive connection, send --requests requests between them, drawn with --seed:

- valid (about 70%): 1 to 4 rows of the model's warm-up inputs, in row or columnar
  format; the answer must equal the SavedModel's in this process (floats to rtol 1e-4:
  a batching server runs other batch sizes, whose round-off differs);
- invalid, each with the status TF Serving's API gives it: bad JSON, an unknown model
  or version (404), an unknown input or signature, an empty batch, a value of the wrong
  type, an all-NaN or infinite row, a negative or missing length (400), more rows
  than --max-batch-size (413).

Midway, version 2 of every model is copied in file by file, variables first and
saved_model.pb a second later (as `cp -r` lands), so the server first sees a version it
cannot load yet; it has the same weights, so every valid answer is known whichever
version gives it. The server's memory (VmRSS from /proc) is sampled every 0.2 s.

Passes (exit 0) when there is no 5xx and no failed connection, every invalid request gets
its status, every valid answer is right, and every model reaches version 2.
"""

import argparse
import collections
import dataclasses
import http.client
import json
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # benchmarks.serving_load

import zoo  # noqa: E402
from benchmarks.serving_load import free_port, start_server  # noqa: E402
from zoo.layout import SERVING_DEFAULT, model_names, read_warmup_requests, versions  # noqa: E402
from zoo.serving.rest import array_to_json, row_request  # noqa: E402

SHIPPED = ["sentiment-imdb-gru", "forecasting-m4-hourly-lstm", "ctc_speech-fsdd-gru"]
MAX_BATCH_SIZE = 64  # the server's --max-batch-size: the 413 requests stay small
VALID_SHARE = 0.7


@dataclasses.dataclass
class Request:
    kind: str  # "valid", or what is wrong with it
    model: str
    path: str
    body: bytes
    status: int  # the status it must get
    expected: dict = None  # a valid request's outputs, as the SavedModel gives them
    request_format: str = "row"


def requests_for(name, version_dir):
    """(valid requests, invalid requests) for one model, from its warm-up inputs."""
    model = zoo.load(version_dir)
    (_, warmup), *_ = read_warmup_requests(version_dir)
    rows = len(next(iter(warmup.values())))
    path = f"/v1/models/{name}:predict"
    valid = []
    for start in range(rows):
        for count in range(1, min(4, rows - start) + 1):
            inputs = {key: values[start : start + count] for key, values in warmup.items()}
            expected = model(inputs)
            valid.append(Request("valid", name, path, json.dumps(row_request(inputs)).encode(), 200, expected))
            columns = {key: array_to_json(values, key) for key, values in inputs.items()}
            valid.append(Request("valid", name, path, json.dumps({"inputs": columns}).encode(), 200, expected,
                                 "columnar"))

    one = {key: values[:1] for key, values in warmup.items()}
    columns = {key: array_to_json(values, key) for key, values in one.items()}

    def bad(kind, body, status=400, where=path):
        return Request(kind, name, where, body if isinstance(body, bytes) else json.dumps(body).encode(), status)

    invalid = [
        bad("bad JSON", b'{"instances": ['),
        bad("unknown model", row_request(one), 404, f"/v1/models/{name}-missing:predict"),
        bad("unknown version", row_request(one), 404, f"/v1/models/{name}/versions/99:predict"),
        bad("unknown input", {"inputs": {**columns, "extra": [1]}}),
        bad("unknown signature", {"signature_name": "nope", "inputs": columns}),
        bad("empty batch", {"inputs": {key: [] for key in one}}),
    ]
    too_many = {key: np.repeat(values, MAX_BATCH_SIZE + 1, axis=0) for key, values in one.items()}
    if sum(values.size for values in too_many.values()) < 200_000:  # a few MB of JSON at most
        invalid.append(bad("too many rows", row_request(too_many), 413))
    specs = model.input_specs(SERVING_DEFAULT)
    for key, spec in specs.items():
        if spec.dtype.is_floating:  # (a NaN among values is a missing value to the forecaster: no error)
            for kind, row in [("all NaN", np.nan), ("infinite", np.inf)]:
                values = np.array(one[key], dtype="float64")
                values[0, : None if kind == "all NaN" else 1] = row
                invalid.append(bad(f"{kind} {key}", {"inputs": {**columns, key: array_to_json(values, key)}}))
        elif spec.dtype.is_integer:
            invalid.append(bad(f"negative {key}", {"inputs": {**columns, key: [-1] * len(one[key])}}))
        else:
            invalid.append(bad(f"number as {key}", {"inputs": {**columns, key: [5] * len(one[key])}}))
    if len(specs) > 1 and rows > 1:  # one input a row short
        two = {key: array_to_json(values[:2], key) for key, values in warmup.items()}
        last = sorted(two)[-1]
        invalid.append(bad(f"{last} a row short", {"inputs": {**two, last: two[last][:1]}}))
    return valid, invalid


def draw(pools, count, seed):
    """`count` requests: VALID_SHARE valid, the models taking turns, each kind alike often."""
    rng = np.random.default_rng(seed)
    names = sorted(pools)
    drawn = []
    for index in range(count):
        valid, invalid = pools[names[index % len(names)]]
        choices = valid if rng.random() < VALID_SHARE else invalid
        drawn.append(choices[rng.integers(len(choices))])
    return drawn


def outputs_of(body, request):
    """The response's outputs as {name: numpy}, in the request's format."""
    names = sorted(request.expected)
    key = "predictions" if request.request_format == "row" else "outputs"
    values = body[key]
    if len(names) == 1:
        return {names[0]: np.asarray(values)}
    if request.request_format == "row":
        return {name: np.asarray([row[name] for row in values]) for name in names}
    return {name: np.asarray(values[name]) for name in names}


def is_right(body, request):
    try:
        actual = outputs_of(body, request)
    except (KeyError, TypeError):
        return False
    for name, expected in request.expected.items():
        value = actual[name]
        if expected.dtype.kind == "f":
            if value.shape != expected.shape or not np.allclose(value, expected, rtol=1e-4, atol=1e-5):
                return False
        elif expected.dtype == object:
            if [v.decode() for v in expected.ravel()] != list(value.ravel()):
                return False
        elif not np.array_equal(value, expected):
            return False
    return True


def drop_in_version(base, name, number):
    """Copies version 1 to `number` file by file: variables first, saved_model.pb a second later."""
    source, target = base / name / "1", base / name / str(number)
    shutil.copytree(source / "variables", target / "variables")
    time.sleep(1.0)
    for item in sorted(source.iterdir(), key=lambda item: item.name == "saved_model.pb"):
        if item.name != "variables":
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, target / item.name)


def memory_sampler(pid, samples, stop):
    while not stop.wait(0.2):
        try:
            status = pathlib.Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        samples.append((time.monotonic(), rss / 2**20))  # GiB


def soak(source_base, models, requests=10_000, concurrency=16, seed=0, batching=False, work_dir=None):
    """Runs the soak; returns the report (a dict) and whether it passed."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="soak-", dir=work_dir)) / "saved_models"
    pools = {}
    for name in models:
        latest = source_base / name / str(versions(source_base / name)[-1])
        shutil.copytree(latest, base / name / "1")
        pools[name] = requests_for(name, base / name / "1")
    drawn = draw(pools, requests, seed)

    port = free_port()
    options = ["--poll-seconds", "1", "--max-batch-size", str(MAX_BATCH_SIZE)]
    server = start_server(base, port, free_port(), options + (["--enable-batching"] if batching else []))
    samples, stop_sampling = [], threading.Event()
    threading.Thread(target=memory_sampler, args=(server.pid, samples, stop_sampling), daemon=True).start()
    next_index = iter(range(len(drawn)))
    lock = threading.Lock()
    results = []  # (request, status, right, seconds)
    dropped = threading.Event()

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                index = next(next_index, None)
                if index is not None and index >= len(drawn) // 2 and not dropped.is_set():
                    dropped.set()
                    threading.Thread(target=lambda: [drop_in_version(base, name, 2) for name in models]).start()
            if index is None:
                break
            request = drawn[index]
            start = time.perf_counter()
            try:
                connection.request("POST", request.path, body=request.body,
                                   headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                status = response.status
                right = status == request.status and (request.expected is None or is_right(json.loads(payload), request))
            except (OSError, http.client.HTTPException, ValueError):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                status, right = None, False
            with lock:
                results.append((request, status, right, time.perf_counter() - start))
        connection.close()

    started = time.monotonic()
    try:
        threads = [threading.Thread(target=client) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        version_two = {}
        deadline = time.monotonic() + 60
        for name in models:
            while True:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("GET", f"/v1/models/{name}")
                states = {entry["version"]: entry["state"]
                          for entry in json.loads(connection.getresponse().read())["model_version_status"]}
                connection.close()
                if states.get("2") == "AVAILABLE" or time.monotonic() > deadline:
                    version_two[name] = states
                    break
                time.sleep(0.5)
    finally:
        stop_sampling.set()
        server.terminate()
        server.wait()
        shutil.rmtree(base.parent, ignore_errors=True)

    return report(results, samples, started, elapsed, version_two, requests, concurrency, batching)


def report(results, samples, started, elapsed, version_two, requests, concurrency, batching):
    statuses = collections.Counter(status for _, status, _, _ in results)
    server_errors = sum(count for status, count in statuses.items() if status is None or status >= 500)
    wrong = collections.Counter(
        (request.model, request.kind, status) for request, status, right, _ in results if not right
    )
    latencies = collections.defaultdict(list)
    for request, _, _, seconds in results:
        latencies[(request.model, "valid" if request.kind == "valid" else "invalid")].append(seconds * 1000)
    memory = np.array([rss for _, rss in samples]) if samples else np.zeros(1)
    quarter = max(1, len(memory) // 4)
    result = {
        "requests": len(results), "concurrency": concurrency, "batching": batching,
        "seconds": round(elapsed, 1), "requests_per_second": round(len(results) / elapsed, 1),
        "statuses": {str(status): count for status, count in sorted(statuses.items(), key=str)},
        "server_errors_or_failed_connections": server_errors,
        "wrong_answers_or_statuses": {" / ".join(map(str, key)): count for key, count in wrong.items()},
        "latency_ms": {f"{model} {kind}": {p: round(float(np.percentile(values, int(p[1:]))), 1)
                                           for p in ("p50", "p99")} | {"count": len(values)}
                       for (model, kind), values in sorted(latencies.items())},
        "server_rss_gib": {"peak": round(float(memory.max()), 2),
                           "first_quarter_peak": round(float(memory[:quarter].max()), 2),
                           "last_quarter_peak": round(float(memory[-quarter:].max()), 2)},
        "versions_at_end": version_two,
    }
    passed = (server_errors == 0 and not wrong and len(results) == requests
              and all(states.get("2") == "AVAILABLE" for states in version_two.values()))
    return result, passed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-base-path", type=pathlib.Path, default=pathlib.Path("saved_models"))
    parser.add_argument("--models", nargs="*", help=f"model folder names (default: {' '.join(SHIPPED)}, "
                        "else every model there)")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--enable-batching", action="store_true", help="serve with zoo serve --enable-batching")
    args = parser.parse_args(argv)
    present = model_names(args.model_base_path)
    models = args.models or [name for name in SHIPPED if name in present] or present
    if not models:
        sys.exit(f"soak: no exported models in {args.model_base_path}/.")
    result, passed = soak(args.model_base_path, models, args.requests, args.concurrency, args.seed,
                          args.enable_batching)
    print(json.dumps(result, indent=1))
    print("soak: " + ("PASSED" if passed else "FAILED"))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
