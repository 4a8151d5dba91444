"""zoo.from_preset: every shipped model (but the ensemble) as a trainable Keras model equal to its export."""

import json

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import catalog
from zoo.layout import METADATA_FILE, read_manifest, versions

SHIPPED = sorted(read_manifest(catalog.SHIPPED_DIR))


def metadata(name):  # read without loading the model (collection stays fast)
    folder = catalog.SHIPPED_DIR / name
    return json.loads((folder / str(versions(folder)[-1]) / "assets.extra" / METADATA_FILE).read_text())


SINGLE = [name for name in SHIPPED if not metadata(name)["test_metrics"].get("members")]


@pytest.mark.parametrize("name", SINGLE)
def test_a_preset_holds_its_exports_weights_and_vocabularies(name):
    saved = zoo.load(name)
    model = zoo.from_preset(name)
    exported = {variable.name.removesuffix(":0"): variable.numpy() for variable in saved.variables()}

    def exported_value(path):  # a Bidirectional's inner layers may lack its prefix (zoo.loading.copy_weights)
        (value,) = [v for n, v in exported.items() if n == path or path.endswith("/" + n) or n.endswith("/" + path)]
        return value

    for weight in model.trainable_weights:
        np.testing.assert_array_equal(weight.numpy(), exported_value(weight.path))
    vocabularies = [[str(word) for word in layer.get_vocabulary() if word not in ("", "[UNK]")]
                    for layer in model.layers if hasattr(layer, "get_vocabulary")]
    assert [words for words in vocabularies if words] == saved.vocabularies()
    assert model.optimizer is not None  # compiled: fit works as it is


@pytest.mark.parametrize("name", [name for name in SINGLE if metadata(name)["task"] in ("sentiment", "language_model")])
def test_a_text_preset_trains_with_fit_on_raw_text(name):
    model = zoo.from_preset(name)
    texts = tf.constant(["a fine film, if a little long", "a dull, lifeless script"])
    before = [weight.numpy().copy() for weight in model.trainable_weights]
    if metadata(name)["task"] == "language_model":
        history = model.fit(texts, epochs=1, verbose=0)  # the loss is the model's own
    else:
        labels = np.array([1, 0])
        targets = {output: labels for output in model.output} if isinstance(model.output, dict) else labels
        history = model.fit(texts, targets, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))


def test_the_shipped_ensemble_is_refused_by_name():
    ensembles = [name for name in SHIPPED if name not in SINGLE]
    for name in ensembles:
        with pytest.raises(ValueError, match="an ensemble of models in one SavedModel"):
            zoo.from_preset(name)


def test_an_ensemble_exported_with_scoped_members_comes_back_as_a_trainable_ensemble(tmp_path):
    """Members built in `zoo.loading.member_scope`s keep distinct variable names in the export, so
    from_preset rebuilds the task's ensemble of them, answering as the export does."""
    import keras

    from tests.conftest import SERVING_TASKS
    from zoo.loading import member_scope
    from zoo.task import get_task, resolve_config
    from zoo.training import Run, export

    task = get_task("forecasting")
    config = resolve_config(task, **SERVING_TASKS["forecasting"])
    data = task.build_inputs(config)
    config = task.resolve(config, data)
    members = []
    for index in range(3):
        keras.utils.set_random_seed(index)
        with member_scope(index):
            members.append(task.build_model(config, data))
    ensemble = task.ensemble(members)
    run = Run(task, config, ensemble, data, history={}, metrics={"members": 3}, run_dir=None)
    saved = zoo.load(export(task, run, tmp_path, "forecasting-ensemble"))
    names = [variable.name for variable in saved.variables()]
    assert len(names) == len(set(names)) and all(name.startswith("member_") for name in names)
    model = zoo.from_preset(saved.path)
    history = task.serving_examples(data, config)["history"]
    np.testing.assert_allclose(model(history), saved(history=history)["quantiles"], rtol=1e-5)
    assert model.optimizer is not None
