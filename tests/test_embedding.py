"""zoo.layers.embedding.TiedEmbedding: Keras's Embedding layout, the tied output softmax (exact and
sampled), its loss, word dropout, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers.embedding import TiedEmbedding

VOCABULARY, DIM = 50, 6


def built(**kwargs):
    layer = TiedEmbedding(VOCABULARY, DIM, **kwargs)
    layer.build((None, None))
    rng = np.random.default_rng(0)
    layer.set_weights([rng.normal(size=(VOCABULARY, DIM)).astype("float32"),
                       rng.normal(size=(VOCABULARY,)).astype("float32")])
    return layer


def test_the_lookup_is_keras_embeddings_and_its_matrix_loads_into_one():
    layer = built(mask_zero=True)
    ids = np.array([[3, 7, 0]])
    theirs = keras.layers.Embedding(VOCABULARY, DIM)
    theirs.build((None, None))
    theirs.set_weights(layer.get_weights()[:1])
    np.testing.assert_array_equal(layer(ids), theirs(ids))
    np.testing.assert_array_equal(layer.compute_mask(ids), [[True, True, False]])
    assert layer.compute_mask(tf.zeros((1, 3, DIM))) is None  # the output side has no mask


def test_the_reversed_layer_is_the_tied_softmax_and_its_nll_the_exact_cross_entropy():
    layer = built()
    embeddings, bias = layer.get_weights()
    hidden = np.random.default_rng(1).normal(size=(2, 3, DIM)).astype("float32")
    logits = hidden @ embeddings.T + bias
    np.testing.assert_allclose(layer(hidden, reverse=True), logits, rtol=1e-5, atol=1e-5)
    targets = np.array([[4, 9, 0], [1, 2, 3]])  # 0: padding, not counted
    nll = layer(hidden, reverse=True, targets=targets).numpy()
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_softmax, targets[..., None], -1)[..., 0] * (targets > 0)
    np.testing.assert_allclose(nll, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(layer.losses[0]), expected.sum() / 5, rtol=1e-5)


def test_training_with_num_sampled_uses_the_sampled_softmax_and_inference_the_exact_one():
    layer = built(num_sampled=5)
    hidden = np.random.default_rng(2).normal(size=(4, 8, DIM)).astype("float32")
    targets = np.random.default_rng(3).integers(1, VOCABULARY, size=(4, 8))
    exact = layer(hidden, reverse=True, targets=targets, training=False).numpy()
    sampled = layer(hidden, reverse=True, targets=targets, training=True).numpy()
    assert np.isfinite(sampled).all() and (sampled >= 0).all()
    assert sampled.mean() < exact.mean()  # a softmax over 6 words, not 50
    np.testing.assert_array_equal(exact, layer(hidden, reverse=True, targets=targets).numpy())


def test_the_sampled_loss_trains_the_sampled_rows_only():
    layer = built(num_sampled=3)
    hidden = tf.constant(np.random.default_rng(4).normal(size=(1, 2, DIM)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(hidden, reverse=True, targets=[[5, 6]], training=True))
    gradient = tf.convert_to_tensor(tape.gradient(loss, layer.embeddings)).numpy()
    touched = np.flatnonzero(np.abs(gradient).sum(1))
    assert {5, 6} <= set(touched) and len(touched) <= 2 + 3


def test_word_dropout_drops_whole_words_in_training_only():
    layer = built(word_dropout=0.5, seed=1)
    ids = np.tile(np.arange(1, VOCABULARY), (3, 1))  # each word three times, in three rows
    dropped = layer(ids, training=True).numpy()
    kept = np.abs(dropped).sum(-1) > 0
    assert (kept == kept[0]).all()  # a word is dropped in every row or none
    assert 0.2 < kept[0].mean() < 0.8
    np.testing.assert_allclose(dropped[:, kept[0]], 2 * layer(ids).numpy()[:, kept[0]], rtol=1e-6)
    np.testing.assert_array_equal(layer(ids, training=False), layer(ids))


def test_a_model_with_the_layer_saves_and_loads_with_its_output_bias(tmp_path):
    ids = keras.Input((None,), dtype="int32")
    layer = TiedEmbedding(VOCABULARY, DIM, num_sampled=4, word_dropout=0.1, name="tied")
    model = keras.Model(ids, layer(layer(ids[:, :-1]), reverse=True, targets=ids[:, 1:]))
    layer.output_bias.assign(np.arange(VOCABULARY, dtype="float32"))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.get_layer("tied").output_bias, layer.output_bias)
    assert loaded.get_layer("tied").num_sampled == 4 and loaded.get_layer("tied").word_dropout == 0.1
    batch = np.array([[1, 2, 3, 0]])
    np.testing.assert_allclose(loaded(batch), model(batch), rtol=1e-6)


@pytest.mark.parametrize("arguments, message", [
    ({"word_dropout": 1.0}, r"`word_dropout` must be in \[0, 1\), got 1.0"),
    ({"num_sampled": VOCABULARY}, r"`num_sampled` must be an integer in \[0, input_dim=50\)"),
])
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        TiedEmbedding(VOCABULARY, DIM, **arguments)
