"""`zoo.distribute`: strategies by name, the chief, mixed precision; the layers under
MirroredStrategy on two logical CPU devices (in a subprocess: devices are fixed when
TensorFlow starts)."""

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from zoo import distribute
from zoo.layers import GRU, LSTM

TWO_CPUS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""


def run_python(code, timeout=240, env=None):
    """(return code, output) of `code` in a fresh Python with two logical CPU devices."""
    process = subprocess.run(
        [sys.executable, "-c", TWO_CPUS + textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )
    return process.returncode, process.stdout + process.stderr


def test_two_replicas_reach_the_weights_of_one_device_at_the_same_global_batch():
    """GRU (both forms) and LSTM on the fused custom-gradient path, 4 SGD steps of 16 rows."""
    code = """
    import json, keras, numpy as np
    from zoo import distribute
    from zoo.layers import GRU, LSTM
    x = np.random.default_rng(0).normal(size=(64, 9, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(64, 1)).astype("float32")
    mask = np.ones((64, 9), bool); mask[::3, 6:] = False        # right padding on some rows
    x[~mask] = 0.0
    def train(strategy, layer):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            inputs = keras.Input((9, 3))
            hidden = keras.layers.Masking()(inputs)
            hidden = keras.layers.Bidirectional(layer(6, return_sequences=True))(hidden)
            model = keras.Model(inputs, keras.layers.Dense(1)(LSTM(4)(hidden)))
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0)
        return model.get_weights()
    import tensorflow as tf
    result = {}
    mirrored = distribute.make_strategy("mirrored")
    for name, layer in {"gru": GRU, "gru_reset_before": lambda u, **k: GRU(u, reset_after=False, **k),
                        "lstm": LSTM}.items():
        one, two = train(distribute.make_strategy("default"), layer), train(mirrored, layer)
        result[name] = max(float(np.abs(a - b).max()) for a, b in zip(one, two))
    print("RESULT", mirrored.num_replicas_in_sync, json.dumps(result))
    """
    code_status, output = run_python(code)
    line = next((line for line in output.splitlines() if line.startswith("RESULT")), None)
    assert code_status == 0 and line, output[-3000:]
    _, replicas, differences = line.split(" ", 2)
    assert replicas == "2"
    assert all(difference <= 1e-5 for difference in json.loads(differences).values()), differences


def test_train_py_trains_and_exports_under_the_mirrored_strategy(tmp_path):
    code = f"""
    import os, train
    try:
        train.main(["--task", "forecasting", "--batch-size", "255", "--strategy", "mirrored",
                    "--output-dir", "{tmp_path / 'bad'}"])
    except SystemExit as error:
        print("REFUSED", error, "LEFT", os.path.exists("{tmp_path / 'bad'}"))
    train.main(["--task", "forecasting", "--synthetic-series", "8", "--units", "8", "--steps-per-epoch", "4",
                "--epochs", "1", "--quiet", "--strategy", "mirrored",
                "--output-dir", "{tmp_path / 'runs'}", "--export-dir", "{tmp_path / 'sm'}"])
    """
    code_status, output = run_python(code)
    assert code_status == 0, output[-3000:]
    assert ("REFUSED train.py: --batch-size 255 is the global batch and must split evenly among the 2 replicas: "
            "try 254. LEFT False") in output
    assert "2 replicas, 128 rows each per step" in output  # the forecaster's global batch of 256
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["replicas"] == 2
    assert (tmp_path / "sm" / "forecasting-gru" / "1" / "saved_model.pb").exists()


# ------------------------------------------------------------------ by name


def test_strategies_by_name():
    assert distribute.make_strategy("default") is tf.distribute.get_strategy()
    assert distribute.make_strategy("mirrored").num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))
    with pytest.raises(ValueError, match=r"--strategy parameter_server: choose one of \['default', 'mirrored', "
                                         r"'multi_worker'\]"):
        distribute.make_strategy("parameter_server")


def test_multi_worker_needs_a_cluster_in_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="takes its cluster from TF_CONFIG, which is not set"):
        distribute.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", '{"task": {"type": "worker", "index": 0}}')
    with pytest.raises(ValueError, match="TF_CONFIG is not a cluster description"):
        distribute.make_strategy("multi_worker")


@pytest.mark.parametrize("tf_config, message", [
    ("not json", "TF_CONFIG is not a cluster description with a task"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "TF_CONFIG is not a cluster description with a task"),
    ('{"cluster": {"worker": "127.0.0.1:1"}, "task": {"type": "worker", "index": 0}}',
     "cluster must map a job to a list"),
    ('{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}',
     "cluster.worker has '127.0.0.1'; each address is \"host:port\""),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}',
     "task {'type': 'worker', 'index': 2} is not in the cluster"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "is not in the cluster"),
])
def test_a_malformed_tf_config_is_named_before_training(tf_config, message, monkeypatch, tmp_path):
    import train

    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=re.escape(message)):
        distribute.make_strategy("multi_worker")
    with pytest.raises(SystemExit, match=re.escape(message)):
        train.main(["--task", "forecasting", "--strategy", "multi_worker", "--output-dir", str(tmp_path)])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("task, chief", [({"type": "worker", "index": 0}, True), ({"type": "worker", "index": 1}, False),
                                         ({"type": "chief", "index": 0}, True)])
def test_the_chief_is_tf_configs_chief_else_worker_0(task, chief, monkeypatch):
    cluster = {"worker": ["a:1", "b:2"], **({"chief": ["c:3"]} if task["type"] == "chief" else {})}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert distribute.is_chief() is chief
    monkeypatch.delenv("TF_CONFIG")
    assert distribute.is_chief()


def start_workers(tmp_path, epochs, resume=False):
    """Two train.py processes, a multi-worker cluster on 127.0.0.1 (GPUs hidden)."""
    command = [sys.executable, "train.py", "--task", "forecasting", "--synthetic-series", "8", "--units", "8",
               "--steps-per-epoch", "4", "--epochs", str(epochs), "--quiet", "--strategy", "multi_worker",
               "--output-dir", str(tmp_path / "runs"), "--export-dir", str(tmp_path / "sm"),
               *(["--resume"] if resume else [])]
    return [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={
            **os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3", "ZOO_COLLECTIVE_TIMEOUT_SECONDS": "20",
            "TF_CONFIG": tf_config,
        })
        for tf_config in distribute.local_cluster(2)
    ]


def finish(workers, timeout=240):
    return [(worker.wait(timeout), worker.stdout.read()) for worker in workers]


def test_two_workers_train_like_one_device_and_only_the_chief_writes(tmp_path):
    (chief_status, chief_output), (worker_status, worker_output) = finish(start_workers(tmp_path, epochs=2))
    assert chief_status == 0 and worker_status == 0, chief_output[-3000:] + worker_output[-3000:]
    assert "2 replicas, 128 rows each per step" in chief_output
    assert [path.name for path in (tmp_path / "sm" / "forecasting-gru").iterdir()] == ["1"]  # one export
    (run_dir,) = (tmp_path / "runs").iterdir()  # the worker's folder is gone
    assert "worker done" in worker_output and not run_dir.name.endswith(".partial")
    two_workers = json.loads((run_dir / "history.json").read_text())
    # The same run on one device, same global batch: the same first epoch. (The forecaster
    # draws new random windows each epoch, and a distributed dataset draws another sequence
    # from the same seed after the first; a fixed dataset stays equal: the test above.)
    one = subprocess.run([sys.executable, "train.py", "--task", "forecasting", "--synthetic-series", "8", "--units",
                          "8", "--steps-per-epoch", "4", "--epochs", "2", "--quiet", "--output-dir",
                          str(tmp_path / "one"), "--export-dir", str(tmp_path / "one_sm")],
                         cwd=REPO, capture_output=True, text=True, timeout=240)
    assert one.returncode == 0, one.stdout[-2000:] + one.stderr[-2000:]
    (one_dir,) = (tmp_path / "one").iterdir()
    one_device = json.loads((one_dir / "history.json").read_text())
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(two_workers[key][0], one_device[key][0], rtol=1e-5)


def test_a_killed_worker_stops_the_run_with_a_clear_message_and_resume_finishes_it(tmp_path):
    workers = start_workers(tmp_path, epochs=40)
    deadline = time.monotonic() + 180
    while not list((tmp_path / "runs").glob("*.partial/backup")) and time.monotonic() < deadline:
        time.sleep(0.2)  # until the chief has finished an epoch
    workers[1].kill()
    killed = time.monotonic()
    chief_status, chief_output = finish(workers[:1])[0]
    assert chief_status == 1 and time.monotonic() - killed < 60, chief_output[-3000:]
    assert "train.py: a worker stopped answering (UnavailableError" in chief_output
    assert "Rerun every worker with --resume" in chief_output
    assert not (tmp_path / "sm").exists()  # nothing exported
    (partial,) = (tmp_path / "runs").glob("*.partial")
    (chief_status, chief_output), (worker_status, worker_output) = finish(start_workers(tmp_path, 40, resume=True))
    assert chief_status == 0 and worker_status == 0, chief_output[-3000:] + worker_output[-3000:]
    run_dir = partial.with_name(partial.name.removesuffix(".partial"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    assert metrics["epochs_trained"] == 40 and len(history["loss"]) < 40  # continued, not restarted
    assert [path.name for path in (tmp_path / "sm" / "forecasting-gru").iterdir()] == ["1"]


# ----------------------------------------------------------- mixed precision


def test_the_policy_is_set_while_building_and_restored():
    with distribute.precision("mixed_bfloat16"):
        layer = GRU(4)
    assert layer.dtype_policy.name == "mixed_bfloat16" and keras.config.dtype_policy().name == "float32"
    with pytest.raises(ValueError, match=r"--mixed-precision float8: choose one of \['mixed_float16', "):
        with distribute.precision("float8"):
            pass


@pytest.mark.parametrize("policy, tolerance", [("mixed_bfloat16", 0.05), ("mixed_float16", 0.01)])
@pytest.mark.parametrize("layer", [GRU, LSTM], ids=["gru", "lstm"])
def test_mixed_precision_layers_stay_close_to_float32(policy, tolerance, layer, rng):
    """16-bit inputs and matmul operands around a float32 recurrence: outputs within
    `tolerance` of float32's on a 40-step sequence."""
    x = rng.normal(size=(4, 40, 8)).astype("float32")
    reference = keras.layers.Bidirectional(layer(16, return_sequences=True))
    expected = reference(x)
    with distribute.precision(policy):
        mixed = keras.layers.Bidirectional(layer(16, return_sequences=True))
        mixed.build(x.shape)
    mixed.set_weights(reference.get_weights())
    actual = mixed(x)
    assert actual.dtype == policy.removeprefix("mixed_") and np.all(np.isfinite(actual))
    np.testing.assert_allclose(np.asarray(actual, "float32"), expected, atol=tolerance)


def test_train_py_mixed_float16_scales_the_loss_and_exports_float32(tmp_path, capsys):
    import train
    import zoo

    train.main(["--task", "forecasting", "--synthetic-series", "8", "--units", "8", "--steps-per-epoch", "4",
                "--epochs", "1", "--quiet", "--mixed-precision", "mixed_float16",
                "--output-dir", str(tmp_path / "runs"), "--export-dir", str(tmp_path / "sm")])
    assert "mixed_float16" in capsys.readouterr().out
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert np.isfinite(json.loads((run_dir / "history.json").read_text())["loss"]).all()
    assert json.loads((run_dir / "run.json").read_text())["mixed_precision"] == "mixed_float16"
    saved = zoo.load(tmp_path / "sm" / "forecasting-gru" / "1")
    assert saved.output_specs()["forecast"].dtype == tf.float32
    forecast = saved(history=np.arange(1, 13, dtype="float32")[None])["forecast"]
    assert forecast.dtype == np.float32 and np.all(np.isfinite(forecast))


@pytest.mark.parametrize("policy, capabilities, outcome", [
    ("mixed_bfloat16", [(7, 0)], "a GPU here has compute capability 7.0; bfloat16 needs 8.0 or newer; try mixed_float16"),
    ("mixed_float16", [(5, 2)], "a GPU here has compute capability 5.2; float16 needs 5.3 or newer"),
    ("mixed_bfloat16", [(9, 0), (8, 0)], None),
    ("mixed_float16", [(7, 0)], None),
    ("mixed_bfloat16", [], None),
    ("mixed_float16", [], "note: mixed_float16 on CPU"),
])
def test_mixed_precision_on_hardware_that_cannot_use_it_is_named(policy, capabilities, outcome):
    if outcome and not outcome.startswith("note"):
        with pytest.raises(ValueError, match=re.escape(f"--mixed-precision {policy}: {outcome}")):
            distribute.check_precision(policy, capabilities)
    else:
        note = distribute.check_precision(policy, capabilities)
        assert (note or None) == outcome or note.startswith(outcome)
