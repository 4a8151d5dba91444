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
