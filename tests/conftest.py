import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def shared_data_dir():
    """`$ZOO_DATA_DIR`, else ../shared/data beside the repo."""
    return pathlib.Path(os.environ.get("ZOO_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture
def data_dir():
    return shared_data_dir()


def require_data(*parts):
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set ZOO_DATA_DIR to the shared data folder)")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ------------------------------------------------- serving: tiny exports, REST client
# For tests/test_serving_*.py, test_serve.py and test_loading.py; zoo and TensorFlow
# are imported where used, so other tests do not wait for them.



def _registered_tiny_configs():
    """{task name: its `tiny` overrides} of every task the registry finds (the zoo's and installed ones)."""
    import zoo.task

    return {name: dict(zoo.task.get_task(name).tiny) for name in zoo.task.list_tasks()}


# Every serving test runs on each registered task, at its tiny settings (`Task.tiny`).
SERVING_TASKS = _registered_tiny_configs()


@dataclasses.dataclass
class TinyExport:
    task_name: str
    model: object  # the in-memory Keras model
    serve: object  # its in-memory serving_default function
    examples: dict  # task.serving_examples: {input name: numpy array}
    path: pathlib.Path  # saved_models/<model>/<version>

    def expected(self, examples=None):
        """The in-memory model's serving_default outputs, as numpy."""
        import tensorflow as tf

        inputs = self.examples if examples is None else examples
        outputs = self.serve(**{name: tf.constant(values) for name, values in inputs.items()})
        return {name: value.numpy() for name, value in outputs.items()}


def export_tiny(task_name, base_dir, model_name=None):
    """Builds the task's tiny model (untrained) and exports the next version of it with
    `zoo.training.export`, as train.py does after training."""
    import zoo.task
    from zoo.training import Run, export

    task = zoo.task.get_task(task_name)
    config = zoo.task.resolve_config(task, **SERVING_TASKS[task_name])
    data = task.build_inputs(config)
    config = task.resolve(config, data)
    model = task.build_model(config, data)
    run = Run(task, config, model, data, history={}, metrics={}, run_dir=None)
    path = export(task, run, base_dir, model_name or f"{task_name}-tiny")
    serve = task.serving_signatures(model, data, config)["serving_default"][0]
    examples = {name: np.asarray(values) for name, values in task.serving_examples(data, config).items()}
    return TinyExport(task_name, model, serve, examples, path)


@pytest.fixture(scope="session")
def tiny_exports(tmp_path_factory):
    """{task name: TinyExport} of every SERVING_TASKS task, version 1, under one base folder."""
    base = tmp_path_factory.mktemp("saved_models")
    return {name: export_tiny(name, base) for name in sorted(SERVING_TASKS)}


def assert_outputs_equal(actual, expected, rtol=0):
    """Numbers equal to 1e-6 (and `rtol`), the rest exactly; strings as bytes (numpy) or text (JSON) alike."""
    assert set(actual) == set(expected)
    as_text = np.vectorize(lambda s: s.decode() if isinstance(s, bytes) else s, otypes=[object])
    for name, value in expected.items():
        if value.dtype.kind in "fc":
            np.testing.assert_allclose(
                np.asarray(actual[name], dtype=value.dtype), value, rtol=rtol, atol=1e-6
            )
        elif value.dtype == object:
            np.testing.assert_array_equal(
                as_text(np.asarray(actual[name], dtype=object)), as_text(value)
            )
        else:
            np.testing.assert_array_equal(np.asarray(actual[name], dtype=value.dtype), value)


class RestClient:
    """A client of `zoo serve`'s REST API on 127.0.0.1:`port`."""

    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None):
        """(HTTP status, parsed JSON) for one request on a fresh connection."""
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            assert response.getheader("Content-Type") == "application/json", payload[:200]
            return response.status, json.loads(payload)
        finally:
            connection.close()

    def get(self, path):
        return self.call("GET", path)

    def predict(self, path, body):
        return self.call("POST", path + ":predict", body)


def start_rest_server(base_path, poll_seconds=60.0, **server_options):
    """(client, repository, stop) for a zoo serve REST API in this process on a free port."""
    from zoo.serving import ModelRepository, make_server

    repository = ModelRepository(base_path, poll_seconds)
    repository.start()
    server = make_server(repository, port=0, **server_options)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def stop():
        server.close()
        server.task_dispatcher.shutdown()
        repository.stop()

    return RestClient(server.effective_port), repository, stop


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(client, path, process, seconds=90):
    """The model status at `path` once every version is AVAILABLE, from a server `process` starting up."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            status, body = client.get(path)
            if status == 200 and all(v["state"] == "AVAILABLE" for v in body["model_version_status"]):
                return status, body
        except (ConnectionError, OSError):
            pass  # not listening yet
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not become available: {process.communicate()[0][-3000:]}")
        time.sleep(0.2)


# ------------------------------------------ recurrent layers: zoo against Keras
# For tests/test_recurrent.py, test_cell.py, test_fused.py, test_gru.py and
# test_lstm.py; keras, TensorFlow and zoo are imported where used, as above.

BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 6

# Each layer under test: (class name in zoo and in keras.layers, extra arguments).
LAYER_CONFIGS = {
    "gru": ("GRU", {"reset_after": True}),
    "gru_reset_before": ("GRU", {"reset_after": False}),
    "lstm": ("LSTM", {}),
}


def layer_classes(config):
    """(zoo class, Keras class, extra arguments) of a LAYER_CONFIGS entry."""
    import keras

    import zoo

    name, extra = LAYER_CONFIGS[config]
    return getattr(zoo, name), getattr(keras.layers, name), extra


def masks():
    right = np.ones((BATCH, TIME), bool)
    right[1, 3:] = False  # right-padded
    left = np.ones((BATCH, TIME), bool)
    left[0, :2] = False  # left-padded
    left[2, :] = False  # fully masked row
    return {"none": None, "right": right, "left_and_empty": left}


def twin_layers(config, rng, **kwargs):
    """A zoo layer and the Keras layer, holding the same random weights."""
    zoo_class, keras_class, extra = layer_classes(config)
    ours = zoo_class(UNITS, **extra, **kwargs)
    theirs = keras_class(UNITS, use_cudnn=False, **extra, **kwargs)
    shape = (BATCH, TIME, FEATURES)
    ours.build(shape)
    theirs.build(shape)
    weights = [0.5 * rng.normal(size=w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


def outputs_and_gradients(layer, x, **call_kwargs):
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, **call_kwargs)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        loss = sum(tf.reduce_sum(tf.sin(o)) for o in outputs)
    gradients = tape.gradient(loss, [x] + layer.trainable_weights)
    return [o.numpy() for o in outputs], [g.numpy() for g in gradients]


def assert_all_close(ours, theirs, atol=1e-5):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# --------------------------------------------------------------------- speech audio
# For tests/test_audio.py and tests/tasks/ctc_speech/ (data, front end, utterances).

SPEECH_RATE = 8000  # Hz: FSDD's rate and the CTC speech task's


def tone(seconds=0.25, frequency=440.0, rate=SPEECH_RATE, amplitude=0.5):
    """A float32 sine wave of `seconds` at `rate`."""
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype("float32")


def write_wav(path, samples, sample_rate, sample_width=2):
    """Writes float samples in [-1, 1] (`(n,)` or `(n, channels)`) as PCM WAV (8-bit unsigned, 16/24/32-bit
    signed): the files the readers are tested on."""
    import wave

    samples = np.asarray(samples, dtype="float64")
    samples = samples[:, None] if samples.ndim == 1 else samples
    scale = 2.0 ** (8 * sample_width - 1)
    ints = np.clip(np.round(samples * scale), -scale, scale - 1).astype(np.int64)
    if sample_width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    elif sample_width == 3:
        raw = (ints.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]).tobytes()
    else:
        raw = ints.astype(f"<i{sample_width}").tobytes()
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(samples.shape[1])
        writer.setsampwidth(sample_width)
        writer.setframerate(sample_rate)
        writer.writeframes(raw)


def card_metrics(card_text):
    """`{metric: text}` of a model card's "Test metrics" table (`zoo.cards.METRICS_HEADING`)."""
    from zoo.cards import METRICS_HEADING

    section = card_text.split(METRICS_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("| ").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return {name.strip("`"): value for name, value in rows[1:]}


def write_text(path, text, encoding="utf-8"):
    """Writes a small file the readers are tested on (text in `encoding`, or bytes as they are); returns its path."""
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path
