"""Sentiment's own Keras objects: the text standardisation and the probability mixture."""

import keras
import numpy as np
import tensorflow as tf

# Keras's default text standardization: lower case, punctuation stripped.
PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
# Where str.splitlines() breaks a line besides "\n". Keras saves a vocabulary one term per
# line and reads it back with str.splitlines() (IndexLookup.load_assets), so a term holding
# one of these (IMDB reviews hold U+0085) comes back as two and the .keras file cannot be
# loaded ("The passed vocabulary has at least one repeated term").
LINE_BOUNDARIES = "[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"


@keras.saving.register_keras_serializable(package="zoo")
def standardize_text(texts):
    """Keras's "lower_and_strip_punctuation", with line boundaries turned into spaces first."""
    texts = tf.strings.regex_replace(texts, LINE_BOUNDARIES, " ")
    return tf.strings.regex_replace(tf.strings.lower(texts), PUNCTUATION, "")


@keras.saving.register_keras_serializable(package="zoo")
class ProbabilityMixture(keras.layers.Layer):
    """`p = w p_a + (1 − w) p_b` of two classifiers' probabilities; `w` is fitted, not trained.

    `fit` picks `w` on held-out data (the validation split): the weight of the most accurate
    mixture, and among equally accurate ones the likeliest. So a branch that does not generalise
    gets weight 0 instead of spoiling the other; and a branch that is better calibrated but less
    accurate (a recurrent model beside an underconfident n-gram model) does not take the weight
    that log-likelihood alone would give it (on IMDB: w 0.6 by likelihood, test accuracy 0.913;
    0.3 by accuracy, 0.923).
    """

    def build(self, input_shape):
        self.weight = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.5),
                                      trainable=False, name="weight")

    def call(self, inputs):
        first, second = inputs
        return self.weight * first + (1.0 - self.weight) * second

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def fit(self, first, second, labels, grid=21):
        """Sets `w` in {0, 1/(grid-1), ..., 1}: the most accurate mixture on `labels`, ties broken by the
        mean log-probability of `labels`."""
        rows = np.arange(len(labels))
        candidates = np.linspace(0.0, 1.0, grid)
        mixtures = [w * first + (1 - w) * second for w in candidates]
        accuracy = [np.mean(mixture.argmax(-1) == labels) for mixture in mixtures]
        log_likelihood = [np.mean(np.log(mixture[rows, labels] + 1e-12)) for mixture in mixtures]
        best = max(range(grid), key=lambda i: (accuracy[i], log_likelihood[i]))
        self.weight.assign(float(candidates[best]))
        return float(self.weight.numpy())
