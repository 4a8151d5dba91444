"""zoo.builders: the named cells and the probability mixture."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tasks.sentiment.layers import ProbabilityMixture
from zoo.builders import CELLS, GREFF_CELLS


@pytest.mark.parametrize("name", sorted(GREFF_CELLS))
def test_variant_config_round_trip(name):
    layer = CELLS[name](3, return_sequences=True)
    config = layer.get_config()
    clone = zoo.LSTM.from_config(config)
    assert clone.get_config() == config
    for option, value in GREFF_CELLS[name].items():
        assert config[option] == value


@pytest.mark.parametrize("good_branch, weight", [(0, 1.0), (1, 0.0)])
def test_mixture_weight_goes_to_the_branch_that_generalises(good_branch, weight):
    labels = np.array([0, 1, 1, 0, 1])
    right = np.eye(2)[labels] * 0.9 + 0.05  # confident and right
    wrong = np.eye(2)[1 - labels] * 0.9 + 0.05  # confident and wrong (an overfitted branch)
    branches = [right, wrong] if good_branch == 0 else [wrong, right]
    mixture = ProbabilityMixture()
    mixture([tf.constant(b) for b in branches])
    assert mixture.fit(*branches, labels) == weight
    np.testing.assert_allclose(mixture(branches), weight * branches[0] + (1 - weight) * branches[1])


def test_mixture_weight_in_between_when_both_help():
    labels = np.array([0, 1, 0, 1])
    first = np.array([[0.9, 0.1], [0.4, 0.6], [0.4, 0.6], [0.1, 0.9]])  # wrong on the third
    second = np.array([[0.4, 0.6], [0.1, 0.9], [0.9, 0.1], [0.4, 0.6]])  # wrong on the first
    mixture = ProbabilityMixture()
    mixture([tf.constant(first), tf.constant(second)])
    assert 0.0 < mixture.fit(first, second, labels) < 1.0


def test_mixture_weight_follows_accuracy_where_likelihood_would_favour_the_confident_branch():
    """Branch a is confident and wrong once; b is right five times, barely. Likelihood peaks near w 0.7
    (accuracy 0.8); every w below 0.111 is right five times, and of those w 0.1 is the likeliest."""
    labels = np.array([1, 1, 1, 1, 0])
    confident = np.array([[0.1, 0.9]] * 5)
    underconfident = np.array([[0.45, 0.55]] * 4 + [[0.55, 0.45]])
    mixture = ProbabilityMixture()
    mixture([tf.constant(confident), tf.constant(underconfident)])
    assert mixture.fit(confident, underconfident, labels) == pytest.approx(0.1)


def test_standardized_vocabularies_survive_a_keras_file_round_trip(tmp_path):
    import keras

    from tasks.sentiment.layers import standardize_text

    texts = tf.constant(["Great film\x85 really, GREAT!", "a dull\u2028film", "so-so\r\nfilm"])
    assert standardize_text(texts).numpy().tolist() == [b"great film  really great", b"a dull film", b"soso \nfilm"]
    text = keras.Input(shape=(), dtype="string")
    vectorizer = keras.layers.TextVectorization(standardize=standardize_text, output_sequence_length=4)
    vectorizer.adapt(texts)
    keras.Model(text, vectorizer(text)).save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")  # U+0085 in a term made this fail
    np.testing.assert_array_equal(loaded(texts), vectorizer(texts))


def test_the_cell_names_flags_are_checked_against_are_the_cells_and_encoders_built():
    from zoo import cell_names
    from zoo.builders import ENCODERS

    assert set(cell_names.RECURRENT_CELLS) == set(CELLS)
    assert set(cell_names.GREFF_CELLS) == set(GREFF_CELLS)
    assert set(cell_names.ENCODER_NAMES) == set(ENCODERS)


def test_the_hyperparameter_tables_and_the_task_contract_do_not_import_keras():
    import subprocess
    import sys

    check = "import sys, zoo.hyperparameters, zoo.task; assert 'keras' not in sys.modules, 'imported keras'"
    subprocess.run([sys.executable, "-c", check], check=True)
