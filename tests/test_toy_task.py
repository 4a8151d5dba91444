"""A fourth task with no edit to the library: `tests/toy_task.py`, declared as another installed
package would declare it (a distribution's `zoo.tasks` entry point), is trained with train.py,
compared with evaluate.py --task on a CSV, exported, served by `zoo serve`, loaded with `zoo.load`
and converted to LiteRT."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, assert_outputs_equal, start_rest_server

# Not imported here: importing tests.toy_task registers it, and only its entry point may.
ENTRY_POINT = "toy_sign = tests.toy_task:ToySignTask"


def sign_rows(count, length, seed):
    """Rows of the toy task's data: random values, label 1 when their sum is positive."""
    values = np.random.default_rng(seed).normal(size=(count, length)).astype("float32")
    return values, (values.sum(axis=1) > 0).astype("int32")


def install_toy_distribution(folder):
    """A distribution's metadata, as pip would leave it in site-packages: its `zoo.tasks` entry point."""
    dist_info = folder / "toy_zoo_task-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-zoo-task\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[zoo.tasks]\n{ENTRY_POINT}\n")
    return folder


def write_csvs(folder, length=6):
    folder.mkdir()
    for split, seed in (("train", 0), ("test", 1)):
        values, labels = sign_rows(80, length, seed)
        with open(folder / f"{split}.csv", "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["values", "label"])
            writer.writerows((" ".join(f"{v:.4f}" for v in row), label) for row, label in zip(values, labels))
    return folder


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy distribution on the path, its CSV data, and one train.py run of it with LiteRT files."""
    base = tmp_path_factory.mktemp("toy")
    site = install_toy_distribution(base / "site")
    data = write_csvs(base / "data")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    command = [sys.executable, "train.py", "--task", "toy_sign", "--cell", "gru", "--data", "csv", "--data-dir",
               str(data), "--epochs", "2", "--quiet", "--output-dir", str(base / "runs"), "--export-dir",
               str(base / "exports"), "--formats", "litert"]
    trained = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    return {"site": site, "data": data, "base": base, "stdout": trained.stdout}


@pytest.fixture
def registered(toy, monkeypatch):
    """The toy task registered in this process through its entry point, the registry restored after."""
    import zoo.task

    monkeypatch.syspath_prepend(str(toy["site"]))
    monkeypatch.setattr(zoo.task, "TASKS", dict(zoo.task.TASKS))
    assert "toy_sign" in zoo.task.list_tasks()
    return zoo.task.get_task("toy_sign")


def test_train_py_trains_tests_and_exports_a_task_from_another_package(toy):
    assert "toy_sign data: csv, 80 train / 80 test" in toy["stdout"] and "test_accuracy=" in toy["stdout"]
    version = toy["base"] / "exports" / "toy_sign-gru" / "1"
    assert (version / "saved_model.pb").is_file() and (version / "edge" / "serving_default.tflite").is_file()
    (run,) = (toy["base"] / "runs").iterdir()
    assert not run.name.endswith(".partial") and (run / "metrics.json").is_file()


def test_zoo_load_serve_and_litert_answer_alike_for_the_toy_task(toy, registered):
    import zoo
    from zoo.edge import EdgeModel

    version = toy["base"] / "exports" / "toy_sign-gru" / "1"
    values, _ = sign_rows(3, 6, 7)
    expected = zoo.load(version)(values=values)
    assert expected["probabilities"].shape == (3, 2)
    np.testing.assert_allclose(expected["probabilities"].sum(axis=1), 1.0, rtol=1e-5)

    client, _, stop = start_rest_server(toy["base"] / "exports")
    try:
        status, body = client.predict("/v1/models/toy_sign-gru", {"inputs": {"values": values.tolist()}})
    finally:
        stop()
    assert status == 200, body
    assert_outputs_equal({k: np.asarray(v) for k, v in body["outputs"].items()}, expected, rtol=1e-5)

    step = EdgeModel(version / "edge" / "serving_default.tflite")
    for row in range(3):
        np.testing.assert_allclose(step(values=values[row: row + 1])["probabilities"],
                                   expected["probabilities"][row: row + 1], atol=1e-5)


def test_evaluate_py_compares_cells_on_the_toy_task_beside_its_baseline(toy, registered, capsys):
    import evaluate

    evaluate.main(["--task", "toy_sign", "--data", "csv", "--data-dir", str(toy["data"]), "--cells", "gru,lstm",
                   "--seeds", "1", "--output-dir", str(toy["base"] / "results")])
    out = capsys.readouterr().out
    assert "grid toy_sign-csv: 4 runs" in out and "toy_sign-csv/majority" in out
    report = (toy["base"] / "results" / "toy_sign-csv" / "report.md").read_text()
    assert "### toy_sign-csv (`test_accuracy`, higher is better)" in report
    assert all(f"| {cell} | 1 | " in report for cell in ("gru", "lstm", "gru_matched"))
    assert "Beside the best baseline (majority, " in report
