"""A bag-of-n-grams classifier: NB-weighted logistic regression (NBSVM, Wang & Manning 2012).

Features: `x_j ∈ {0, 1}`, whether n-gram `j` occurs in the text
(`keras.layers.TextVectorization(ngrams=n, output_mode="multi_hot", sparse=True)`).
Naive Bayes log-count ratios, one column per class `k` (class `k` against the rest),
fitted on the training split by `log_count_ratios`:

    p_k = α + Σ_{texts of class k} x,    q_k = α + Σ_{other texts} x,
    r_k = log( (p_k / ‖p_k‖₁) / (q_k / ‖q_k‖₁) )

and the logits `z_k = Σ_j x_j r_jk w_jk + b_k`, with `r` fixed and `w`, `b` trained
(L2 on `w`; `w = 0` at the start). Scaling the features by `r` is what lifts this
above plain logistic regression on sparse n-grams.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class NaiveBayesLogits(keras.layers.Layer):
    """Logits `x (r ⊙ w) + b` of binary n-gram features `x` (sparse or dense)."""

    def __init__(self, num_classes, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.l2 = num_classes, l2

    def build(self, input_shape):
        shape = (input_shape[-1], self.num_classes)
        self.ratios = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="ratios")
        self.kernel = self.add_weight(
            shape=shape, initializer="zeros", regularizer=keras.regularizers.L2(self.l2), name="kernel"
        )
        self.bias = self.add_weight(shape=(self.num_classes,), initializer="zeros", name="bias")

    def call(self, features):
        return ops.matmul(ops.cast(features, self.kernel.dtype), self.ratios * self.kernel) + self.bias

    def logits_of_ids(self, ids):
        """The logits `call` gives for binary features, from the ids of those present instead
        (`(batch, k)` ints, each at most once, -1 padding): the sum of their rows of `r ⊙ w`,
        plus `b`. No sparse or 300k-wide input: the on-device form (`zoo.edge`)."""
        present = ops.cast(ids >= 0, self.kernel.dtype)[..., None]
        rows = ops.take(self.ratios * self.kernel, ops.maximum(ids, 0), axis=0)
        return ops.sum(rows * present, axis=1) + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "l2": self.l2}


def log_count_ratios(vectorizer, dataset, num_classes, alpha=1.0):
    """`r` of shape (features, classes) from a dataset of `(texts, class ids)` batches."""
    width = None
    counts = None
    for texts, labels in dataset:
        features = vectorizer(texts)
        if not isinstance(features, tf.SparseTensor):
            features = tf.sparse.from_dense(features)
        if counts is None:
            width = int(features.dense_shape[1])
            counts = np.zeros((num_classes, width))
        rows, columns = features.indices[:, 0], features.indices[:, 1]
        classes = tf.gather(tf.cast(labels, tf.int64), rows)
        counts += tf.math.unsorted_segment_sum(
            features.values, classes * width + columns, num_classes * width
        ).numpy().reshape(num_classes, width)
    if counts is None:
        raise ValueError("log_count_ratios: the dataset is empty.")
    positive = alpha + counts
    rest = alpha + counts.sum(axis=0, keepdims=True) - counts
    ratios = np.log(positive / positive.sum(axis=1, keepdims=True)) - np.log(rest / rest.sum(axis=1, keepdims=True))
    return ratios.T.astype("float32")  # (features, classes)
