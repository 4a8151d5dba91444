"""`zoo.loading.Signature`: the one check of inputs against a signature, for `zoo.load` and `zoo serve`.

`zoo.load` itself (versions, metadata, predictions, .keras files, errors) is tested
here too; tests/test_serving_rest.py and test_serving_grpc.py check the same messages as the
servers send them.
"""

import shutil
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import SERVING_TASKS, assert_outputs_equal
from zoo.loading import Signature


@pytest.fixture(params=sorted(SERVING_TASKS))
def exported(request, tiny_exports):
    """Each task's tiny export (version 1)."""
    return tiny_exports[request.param]


@pytest.fixture(scope="module")
def loaded(tiny_exports):
    """{task name: (TinyExport, its SavedModel loaded with zoo.load)}."""
    return {name: (export, zoo.load(export.path)) for name, export in tiny_exports.items()}


@pytest.mark.parametrize("task_name", ["forecasting", "ctc_speech"])
def test_signature_holds_the_input_specs_and_runs_like_the_model(loaded, task_name):
    export, model = loaded[task_name]
    signature = Signature(model)
    assert signature.name == "serving_default"
    assert signature.input_specs == model.input_specs() and set(signature.input_specs) == set(export.examples)
    assert_outputs_equal(signature(export.examples), export.expected())
    assert_outputs_equal(model(export.examples), export.expected())


def test_check_says_which_input_does_not_fit_and_how(loaded):
    speech, speech_model = loaded["ctc_speech"]
    waveform = speech.examples["waveform"]
    forecasting_model = loaded["forecasting"][1]
    for signature, inputs, message in [
        (Signature(speech_model), {"waveform": waveform},
         "signature 'serving_default' takes inputs ['length', 'waveform']; got ['waveform']."),
        (Signature(speech_model), {"waveform": waveform, "length": [1.5] * len(waveform)},
         "Input 'length': the signature takes int32, got float64 values."),
        (Signature(forecasting_model), {"history": [["a"] * 12]},
         "Input 'history': the signature takes float32, got <U1 values."),
        (Signature(forecasting_model), {"history": np.zeros(12, "float32")},
         "Input 'history' has shape [12]; the signature takes [-1, -1] (-1: any size)."),
    ]:
        with pytest.raises(ValueError) as caught:
            signature.check(inputs)
        assert str(caught.value) == message
    sentiment_model = loaded["sentiment"][1]
    with pytest.raises(ValueError, match=r"^Input 'text'\[1\]: None is not a text; the signature takes string"):
        sentiment_model(text=["a fine film", None])
    with pytest.raises(ValueError, match=r"^Input 'history' has rows of different lengths; pad them to one length "
                                         r"\(NaN for a missing value\)\.$"):
        forecasting_model(history=[[1.0, 2.0, 3.0], [1.0]])
    with pytest.raises(ValueError, match=r"^Input\(s\) \['history'\] given twice, in the dict and as keywords"):
        forecasting_model({"history": np.zeros((1, 12), "float32")}, history=np.ones((1, 12), "float32"))


def test_an_empty_batch_runs_unless_refused_and_is_refused_first(loaded):
    signature = Signature(loaded["forecasting"][1])
    empty = np.zeros((0, 12), "float32")
    assert signature.check({"history": empty})["history"].shape == (0, 12)
    message = "Input 'history' has an empty batch (0 rows): send at least one row."
    for inputs in ({"history": empty}, {"history": empty, "extra": [1.0]}):
        with pytest.raises(ValueError) as caught:
            signature.check(inputs, refuse_empty_batch=True)
        assert str(caught.value) == message


def test_an_unknown_signature_is_a_key_error_naming_the_model(loaded):
    _, model = loaded["forecasting"]
    with pytest.raises(KeyError, match=rf"{model.path}: no signature 'nope'; it has \['serving_default'"):
        Signature(model, "nope")


# -------------------------------------------------------------------- loading


def test_load_gives_the_latest_version_with_metadata_and_equal_predictions(exported):
    for path in (exported.path.parent, exported.path):
        model = zoo.load(path)
        assert model.version == int(exported.path.name)
        assert model.metadata["task"] == exported.task_name
        assert model.metadata["version"] == model.version
        assert "serving_default" in model.signatures
        assert_outputs_equal(model(exported.examples), exported.expected())
        assert_outputs_equal(model(**exported.examples), exported.expected())


def test_load_keras_file_with_zoo_layers(exported, tmp_path):
    exported.model.save(tmp_path / "model.keras")
    model = zoo.load(tmp_path / "model.keras")
    inputs = {tensor.name: tf.constant(exported.examples[tensor.name]) for tensor in exported.model.inputs}
    inputs = inputs.popitem()[1] if len(inputs) == 1 else inputs
    tf.nest.map_structure(
        lambda loaded, original: np.testing.assert_allclose(loaded, original, rtol=0, atol=1e-6),
        model(inputs), exported.model(inputs),
    )


def test_load_errors_name_the_path_and_the_input(exported, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing.keras: no such .keras file"):
        zoo.load(tmp_path / "missing.keras")
    with pytest.raises(
        FileNotFoundError, match=r"neither a SavedModel \(no saved_model.pb\) nor a model folder"
    ):
        zoo.load(tmp_path)
    model = zoo.load(exported.path)
    name = sorted(exported.examples)[0]
    with pytest.raises(ValueError, match=r"signature 'serving_default' takes inputs"):
        model({"nope": [1.0]})
    with pytest.raises(
        ValueError, match=rf"Input '{name}' has shape \[1, 1, 1, 1, 1\]; the signature takes"
    ):
        model({**exported.examples, name: np.zeros((1, 1, 1, 1, 1), exported.examples[name].dtype)})
    with pytest.raises(KeyError, match=r"no signature 'nope'"):
        model(exported.examples, signature_name="nope")


def test_a_damaged_file_is_named_with_what_to_do(tiny_exports, tmp_path, monkeypatch):
    from zoo import catalog
    from zoo.layout import write_manifest

    (tmp_path / "garbage.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"garbage.keras: not a .keras file \(not a zip archive\); a .keras file is "
                                         r"the zip Keras's model.save writes"):
        zoo.load(tmp_path / "garbage.keras")  # Keras itself says "File not found" for a file that is there
    shipped = tmp_path / "shipped"
    shutil.copytree(tiny_exports["forecasting"].path.parent, shipped / "forecasting-tiny")
    write_manifest(shipped, {"forecasting-tiny": {"task": "forecasting", "cell": "gru"}})
    monkeypatch.setattr(catalog, "SHIPPED_DIR", shipped)
    shard = next((shipped / "forecasting-tiny" / "1" / "variables").glob("variables.data-*"))
    shard.write_bytes(bytes(len(shard.read_bytes())))  # same size, other bytes
    with pytest.raises(ValueError, match=r"forecasting-tiny/1: cannot load this SavedModel \(.*hecksum does not "
                                         r"match.*\)\. It is one of the zoo's shipped models: restore it with "
                                         r"`git checkout -- .*forecasting-tiny`\.$"):
        zoo.load(shipped / "forecasting-tiny")
    copy = tmp_path / "mine" / "forecasting-tiny"
    shutil.copytree(tiny_exports["forecasting"].path.parent, copy)
    (copy / "1" / "assets.extra" / "zoo_metadata.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"zoo_metadata.json: not valid JSON \(.*\)\. Export it again"):
        zoo.load(copy)


def test_a_keras_file_of_any_task_loads_with_zoo_alone(tiny_exports, tmp_path):
    """The caller imports only zoo: zoo.load finds each task's Keras objects through the registry's entry points."""
    import subprocess
    import sys

    import keras

    from zoo.optimizers import LayerwiseAdam

    paths = []
    for name, export in sorted(tiny_exports.items()):
        export.model.save(tmp_path / f"{name}.keras")
        paths.append(str(tmp_path / f"{name}.keras"))
    # a fine-tuning run's file: compiled with zoo.optimizers.LayerwiseAdam (registered when zoo.load is imported)
    fine_tuned = keras.models.clone_model(tiny_exports["forecasting"].model)
    fine_tuned.compile(optimizer=LayerwiseAdam(1e-3, rate_scales={"head/kernel": (0.5, 2)}), loss="mse")
    fine_tuned.save(tmp_path / "fine_tuned.keras")
    paths.append(str(tmp_path / "fine_tuned.keras"))
    script = (
        "import sys, zoo\n"
        f"models = [zoo.load(p) for p in {paths!r}]\n"
        "print(len(models))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith(str(len(paths)))


def test_an_ensemble_in_one_saved_model_is_not_rebuilt_as_one_of_its_members():
    """The shipped LSTM forecaster holds three members' variables under the same paths: rebuilding it (or
    starting a run from it) would take one member's weights at random, so it is refused by name."""
    from zoo.loading import rebuild

    with pytest.raises(ValueError, match=r"forecasting-m4-hourly-lstm/1: it holds 3 variables named "
                                         r"encoder_lstm_0/lstm_cell/bias \(an ensemble of models in one SavedModel"):
        rebuild(zoo.load("forecasting-m4-hourly-lstm"))
