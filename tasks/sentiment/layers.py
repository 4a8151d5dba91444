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

    `fit` picks `w` on held-out data (the validation split) by log-likelihood, so a
    branch that does not generalise gets weight 0 instead of spoiling the other.
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
        """Sets `w` in {0, 1/(grid-1), ..., 1} maximising the mean log-probability of `labels`."""
        rows = np.arange(len(labels))
        first, second = first[rows, labels], second[rows, labels]
        candidates = np.linspace(0.0, 1.0, grid)
        log_likelihood = [np.mean(np.log(w * first + (1 - w) * second + 1e-12)) for w in candidates]
        self.weight.assign(float(candidates[int(np.argmax(log_likelihood))]))
        return float(self.weight.numpy())
