"""A word embedding that is also the output softmax over the same words (tied weights).

`TiedEmbedding(V, E)` holds one matrix `E_w` (V, E), Keras's `Embedding` layout (its
`embeddings` weight loads into `keras.layers.Embedding` and back), and an output bias `b`
(V,). Called three ways in one model (a shared layer):

    embedding(ids)                          x_t = E_w[id_t]                         (..., E)
    embedding(h, reverse=True)              logits = h E_wᵀ + b                      (..., V)
    embedding(h, reverse=True, targets=y)   nll_t = −log softmax(h_t E_wᵀ + b)[y_t]  (batch, time)

Tying the input and output embeddings (Press & Wolf 2017; Inan et al. 2017) halves the
word-level parameters of a language model and regularises it; `h` must then have E features
(a projection after the recurrent layers when units ≠ E).

Losses. With `targets`, the layer also adds the mean of `nll_t` over the steps whose target
is not 0 (padding) to the model's losses (`add_loss`), so a model trains on text alone, and
returns `nll_t` (0 on padding). While training with `num_sampled = k > 0` it is the sampled
softmax of Jean et al. 2015 (`tf.nn.sampled_softmax_loss`): the softmax over the target and k
words drawn from a log-uniform (Zipf) distribution over ids (the vocabulary sorted by
frequency, as `TextVectorization` sorts it), each logit corrected by −log Q(w) of its
expected count, accidental hits of the target removed. Its gradient reaches only the k + 1
rows of `E_w` and `b` in the sample, so a step costs O(k E) per token instead of O(V E).
Out of training (validation, test, serving) the softmax is exact, so the reported
perplexity `exp(mean nll)` is the true one.

Backward pass of the exact loss, per step with p = softmax(h E_wᵀ + b):

    ∂nll/∂logits = p − onehot(y),   ∂nll/∂h = (p − onehot(y)) E_w,
    ∂nll/∂E_w = (p − onehot(y))ᵀ h  (+ the lookups' rows, summed, from the input side),
    ∂nll/∂b = p − onehot(y).

`word_dropout = p_w` (embedding dropout, Gal & Ghahramani 2016 / AWD-LSTM): while training,
each word type's whole row of `E_w` is dropped (zeroed) with probability p_w and the kept
rows scaled by 1 / (1 − p_w), one draw per batch, for the lookups only: a dropped word is
unknown wherever it occurs in that batch.
"""

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class TiedEmbedding(keras.layers.Embedding):
    """`keras.layers.Embedding` plus the tied output softmax and word dropout (module docstring)."""

    def __init__(self, input_dim, output_dim, num_sampled=0, word_dropout=0.0, seed=None, **kwargs):
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"`word_dropout` must be in [0, 1), got {word_dropout!r}.")
        if not isinstance(num_sampled, int) or not 0 <= num_sampled < input_dim:
            raise ValueError(
                f"`num_sampled` must be an integer in [0, input_dim={input_dim}), got {num_sampled!r} "
                "(0: the exact softmax in training too)."
            )
        super().__init__(input_dim, output_dim, **kwargs)
        self.num_sampled = num_sampled
        self.word_dropout = float(word_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        super().build(input_shape)
        self.output_bias = self.add_weight(shape=(self.input_dim,), initializer="zeros", name="output_bias")

    @property
    def variable_serialization_spec(self):
        # What Keras's Embedding saves and loads, per quantization mode: the output bias too.
        return {mode: [*names, "output_bias"] for mode, names in super().variable_serialization_spec.items()}

    def call(self, inputs, reverse=False, targets=None, training=None):
        if not reverse:
            return self._lookup(inputs, training)
        if targets is None:
            return ops.matmul(inputs, ops.transpose(self.embeddings)) + self.output_bias
        return self._negative_log_likelihood(inputs, targets, training)

    def _lookup(self, ids, training):
        vectors = super().call(ids)
        if not (training and self.word_dropout):
            return vectors
        keep = keras.random.dropout(ops.ones((self.input_dim, 1), vectors.dtype), self.word_dropout,
                                    seed=self.seed_generator)
        return vectors * ops.take(keep, ops.cast(ids, "int32"), axis=0)

    def _negative_log_likelihood(self, hidden, targets, training):
        targets = ops.cast(targets, "int64")
        batch, steps = ops.shape(targets)[0], ops.shape(targets)[1]
        flat_hidden = ops.reshape(ops.cast(hidden, self.embeddings.dtype), (-1, self.output_dim))
        flat_targets = ops.reshape(targets, (-1,))
        if training and self.num_sampled:
            nll = tf.nn.sampled_softmax_loss(
                weights=self.embeddings, biases=self.output_bias, labels=flat_targets[:, None],
                inputs=flat_hidden, num_sampled=self.num_sampled, num_classes=self.input_dim,
                remove_accidental_hits=True, seed=None,
            )
        else:
            logits = ops.matmul(flat_hidden, ops.transpose(self.embeddings)) + self.output_bias
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=flat_targets, logits=logits)
        counted = ops.cast(flat_targets > 0, nll.dtype)
        nll = nll * counted
        self.add_loss(ops.sum(nll) / ops.maximum(ops.sum(counted), 1.0))
        return ops.reshape(nll, (batch, steps))

    def compute_output_spec(self, inputs, reverse=False, targets=None, training=None):
        if not reverse:
            return super().compute_output_spec(inputs)
        shape = (*inputs.shape[:-1], self.input_dim) if targets is None else tuple(targets.shape)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def compute_mask(self, inputs, mask=None):
        # Ids (the lookup) give Keras's `mask_zero` mask; the output side's results have none.
        if keras.backend.is_float_dtype(inputs.dtype):
            return None
        return super().compute_mask(inputs, mask)

    def get_config(self):
        return {**super().get_config(), "num_sampled": self.num_sampled, "word_dropout": self.word_dropout,
                "seed": self.seed}
