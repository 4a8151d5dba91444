"""`zoo.serving.repository`: new versions and models, models.config's policies and labels, broken versions.

Observed through the REST API of a server in this process, polling a folder that
the test changes under it.
"""

import shutil
import time

import numpy as np
from google.protobuf import text_format

from tests.conftest import export_tiny, start_rest_server
from zoo.export import write_models_config
from zoo.layout import MODELS_CONFIG, read_models_config


def test_new_versions_models_labels_and_policies_without_a_restart(tiny_exports, tmp_path):
    first = tiny_exports["sentiment"]
    name = first.path.parent.name
    shutil.copytree(first.path, tmp_path / name / "1")
    client, repository, stop = start_rest_server(tmp_path, poll_seconds=0.2)
    try:
        path = f"/v1/models/{name}"
        assert client.get(path)[1]["model_version_status"][0]["version"] == "1"

        second = export_tiny(
            "sentiment", tmp_path, name
        )  # version 2, other weights; rewrites models.config
        assert second.path.name == "2"
        deadline = time.monotonic() + 30
        while client.get(path)[1]["model_version_status"][0]["version"] != "2":
            assert time.monotonic() < deadline, "version 2 was not picked up by polling"
            time.sleep(0.1)
        # The default policy serves the latest version only, as TF Serving does.
        assert client.predict(path + "/versions/1", {"instances": ["a"]})[0] == 404
        body = client.predict(path, {"inputs": [t.decode() for t in second.examples["text"]]})[1]
        np.testing.assert_allclose(
            body["outputs"]["probabilities"], second.expected()["probabilities"], atol=1e-6
        )

        # Policies and labels come from models.config.
        config, _ = read_models_config(tmp_path / MODELS_CONFIG)
        model_config = config.model_config_list.config[0]
        model_config.model_version_policy.all.SetInParent()
        model_config.version_labels["stable"] = 1
        model_config.version_labels["canary"] = 2
        (tmp_path / MODELS_CONFIG).write_text(text_format.MessageToString(config))
        shutil.copytree(first.path, tmp_path / "copy" / "4")  # a new model
        (tmp_path / "broken" / "1").mkdir(parents=True)  # a version that cannot load
        (tmp_path / "broken" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
        repository.refresh()

        assert [s["version"] for s in client.get(path)[1]["model_version_status"]] == ["1", "2"]
        stable = client.predict(
            path + "/labels/stable", {"inputs": [t.decode() for t in first.examples["text"]]}
        )
        np.testing.assert_allclose(
            stable[1]["outputs"]["probabilities"], first.expected()["probabilities"], atol=1e-6
        )
        assert client.get(path + "/labels/canary") == client.get(path + "/versions/2")
        assert client.get(path + "/labels/canary/metadata")[1]["model_spec"]["version"] == "2"
        assert client.get("/v1/models/copy")[1]["model_version_status"][0]["version"] == "4"
        status, broken = client.get("/v1/models/broken")
        (version,) = broken["model_version_status"]
        assert version["state"] == "END" and version["status"]["error_code"] == "UNKNOWN"
        assert version["status"]["error_message"].startswith(
            f"Loading {tmp_path / 'broken' / '1'} failed:"
        )
        assert client.predict("/v1/models/broken", {"instances": ["a"]}) == (
            404,
            {"error": "Servable not found for request: Latest(broken)"},
        )
        # A new version that fails to load leaves the one before it serving.
        shutil.copytree(tmp_path / "broken" / "1", tmp_path / "copy" / "5")
        repository.refresh()
        states = [
            (s["version"], s["state"]) for s in client.get("/v1/models/copy")[1]["model_version_status"]
        ]
        assert states == [("4", "AVAILABLE"), ("5", "END")]
        assert client.predict("/v1/models/copy", {"instances": ["a"]})[0] == 200
        write_models_config(tmp_path)  # an export keeps the policy and the labels
        configs = {
            c.name: c for c in read_models_config(tmp_path / MODELS_CONFIG)[0].model_config_list.config
        }
        assert sorted(configs) == ["broken", "copy", name]
        assert dict(configs[name].version_labels) == {"canary": 2, "stable": 1}
    finally:
        stop()


def test_a_version_copied_in_file_by_file_comes_up_once_complete(tiny_exports, tmp_path):
    export = tiny_exports["forecasting"]
    name = export.path.parent.name
    version = tmp_path / name / "1"
    shutil.copytree(export.path / "variables", version / "variables")  # saved_model.pb not yet there
    client, repository, stop = start_rest_server(tmp_path, poll_seconds=0.2)
    try:
        status = client.get(f"/v1/models/{name}")[1]["model_version_status"][0]
        assert status["state"] == "END" and "SavedModel file does not exist" in status["status"]["error_message"]
        for item in export.path.iterdir():
            if item.is_file():
                shutil.copy(item, version / item.name)
            elif item.name != "variables":
                shutil.copytree(item, version / item.name)
        deadline = time.monotonic() + 30
        while client.get(f"/v1/models/{name}")[1]["model_version_status"][0]["state"] != "AVAILABLE":
            assert time.monotonic() < deadline, "the completed version was not retried"
            time.sleep(0.1)
        assert client.predict(f"/v1/models/{name}", {"inputs": export.examples["history"].tolist()})[0] == 200
    finally:
        stop()
