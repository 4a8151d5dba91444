"""The `zoo serve` command (`zoo.serve`): the console script and `python -m zoo.serve`, SIGTERM, bad flags."""

import os
import signal
import subprocess
import sys

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.conftest import RestClient, free_port, wait_for
from zoo.serve import main


def test_zoo_serve_command_serves_the_base_folder(tiny_exports):
    export = tiny_exports["sentiment"]
    port, grpc_port = free_port(), free_port()
    console_script = os.path.join(os.path.dirname(sys.executable), "zoo")
    command = [console_script] if os.path.exists(console_script) else [sys.executable, "-m", "zoo.serve"]
    process = subprocess.Popen(
        command + ["serve", "--port", str(port), "--grpc-port", str(grpc_port), "--enable-batching",
                   "--model-base-path", str(export.path.parent.parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    try:
        client = RestClient(port)
        path = f"/v1/models/{export.path.parent.name}"
        assert wait_for(client, path, process)[0] == 200
        assert client.predict(path, {"instances": ["a fine film"]})[0] == 200
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:  # the same models over gRPC
            request = predict_pb2.PredictRequest()
            request.model_spec.name = export.path.parent.name
            request.inputs["text"].CopyFrom(tf.make_tensor_proto(["a fine film"]))
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
            assert tf.make_ndarray(response.outputs["probabilities"]).shape == (1, 2)
    finally:
        # SIGTERM, as `docker stop` sends (SIGINT is ignored where the suite runs in the background)
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)  # reads the pipe: a full one would block the server
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            pytest.fail(f"zoo serve did not stop within 30 s of SIGTERM; its output:\n{output[-3000:]}")
    assert "zoo serve: stopped" in output and process.returncode == 0
    assert "; batching max_batch_size 64, batch_timeout_micros 0," in output


def test_zoo_serve_without_the_base_folder_says_so(tmp_path):
    with pytest.raises(SystemExit, match=r"zoo serve: --model-base-path .*missing: no such folder"):
        main(["serve", "--model-base-path", str(tmp_path / "missing")])


def test_a_rest_port_in_use_is_one_readable_line(tmp_path, monkeypatch):
    import socket

    from zoo.serving import ModelRepository

    # said before any model loads (it came after all of them had loaded, ~7 s for the shipped ones)
    monkeypatch.setattr(ModelRepository, "start", lambda self: pytest.fail("models loaded before the port was bound"))

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=rf"zoo serve: cannot serve REST on 127.0.0.1:{port} \(.*\); "
                                             "choose another --port."):
            main(["--port", str(port), "--model-base-path", str(tmp_path)])


def test_a_wrong_batching_parameters_file_is_named_before_serving(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text("max_batch_size { value: 64 }\nallowed_batch_sizes: 8\n")
    with pytest.raises(SystemExit, match=r"zoo serve: --batching-parameters-file: .*batching.config, line 2: "
                                         "cannot read 'allowed_batch_sizes: 8'"):
        main(["--batching-parameters-file", str(path), "--model-base-path", str(tmp_path)])


@pytest.mark.parametrize("flag, value, message", [
    ("--threads", "0", "must be from 1 to 1024, got 0"),  # was: a server that never answers
    ("--poll-seconds", "-1", "must be from 0.05 to 86400, got -1"),  # was: a busy loop while idle
    ("--poll-seconds", "nan", "must be from 0.05 to 86400, got nan"),
    ("--port", "70000", "must be from 0 to 65535, got 70000"),  # was: port 4464 (70000 mod 65536)
    ("--grpc-port", "-1", "must be from 0 to 65535, got -1"),
    ("--max-batch-size", "0", "must be from 1 to 1000000, got 0"),  # was: every request a 413
    ("--max-request-bytes", "-5", "must be from 1 to 2147483647, got -5"),
    ("--threads", "many", "expected an integer, got 'many'"),
])
def test_a_server_flag_out_of_range_is_refused_before_any_model_loads(flag, value, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([flag, value, "--model-base-path", str(tmp_path / "missing")])  # the flag is checked first
    assert f"argument {flag}: {message}" in capsys.readouterr().err
