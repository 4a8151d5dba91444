"""The n-gram branch (NB-weighted logistic regression), against NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks.sentiment.ngrams import NaiveBayesLogits, log_count_ratios

TEXTS = ["good film", "not good film", "bad film", "good good fun", "bad bad"]
LABELS = np.array([1, 0, 0, 1, 0])


@pytest.fixture(scope="module")
def vectorizer():
    layer = keras.layers.TextVectorization(ngrams=2, output_mode="multi_hot", sparse=True)
    layer.adapt(TEXTS)
    return layer


def test_log_count_ratios_follow_the_formula(vectorizer):
    dataset = tf.data.Dataset.from_tensor_slices((TEXTS, LABELS)).batch(2)  # three batches
    ratios = log_count_ratios(vectorizer, dataset, num_classes=2, alpha=1.0)

    x = tf.sparse.to_dense(vectorizer(TEXTS)).numpy()  # (texts, features) of 0/1
    assert set(np.unique(x)) == {0.0, 1.0}
    for k in (0, 1):
        p, q = 1.0 + x[LABELS == k].sum(0), 1.0 + x[LABELS != k].sum(0)
        np.testing.assert_allclose(ratios[:, k], np.log(p / p.sum()) - np.log(q / q.sum()), rtol=1e-5)
    vocabulary = vectorizer.get_vocabulary()
    assert ratios[vocabulary.index("not good"), 0] > 0 > ratios[vocabulary.index("not good"), 1]
    assert ratios[vocabulary.index("fun"), 1] > 0


def test_naive_bayes_logits_equal_x_times_r_w_plus_b_for_sparse_and_dense_input(vectorizer):
    features = vectorizer(TEXTS)
    layer = NaiveBayesLogits(num_classes=2)
    layer(features)
    rng = np.random.default_rng(0)
    r, w, b = rng.normal(size=layer.ratios.shape), rng.normal(size=layer.kernel.shape), rng.normal(size=2)
    layer.ratios.assign(r), layer.kernel.assign(w), layer.bias.assign(b)
    dense = tf.sparse.to_dense(features).numpy()
    expected = dense @ (r * w) + b
    np.testing.assert_allclose(layer(features), expected, rtol=1e-5)
    np.testing.assert_allclose(layer(dense), expected, rtol=1e-5)


def test_ratios_are_not_trained_and_the_config_round_trips():
    layer = NaiveBayesLogits(num_classes=3, l2=1e-4, name="nb")
    layer.build((None, 7))
    assert [v.name for v in layer.trainable_weights] == ["kernel", "bias"]
    clone = NaiveBayesLogits.from_config(layer.get_config())
    assert (clone.num_classes, clone.l2) == (3, 1e-4)


def test_empty_dataset_is_an_error(vectorizer):
    empty = tf.data.Dataset.from_tensor_slices((TEXTS, LABELS)).take(0).batch(2)
    with pytest.raises(ValueError, match="dataset is empty"):
        log_count_ratios(vectorizer, empty, num_classes=2)


def test_logits_of_ids_equal_the_multi_hot_product():
    layer = NaiveBayesLogits(2)
    layer.build((None, 6))
    rng = np.random.default_rng(0)
    for weight in (layer.ratios, layer.kernel, layer.bias):
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    multi_hot = np.array([[0, 1, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]], "float32")
    ids = np.array([[1, 4, 5], [-1, -1, -1]], "int32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.logits_of_ids(ids)),
                               keras.ops.convert_to_numpy(layer(multi_hot)), atol=1e-6)
