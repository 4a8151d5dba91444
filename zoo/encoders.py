"""The non-recurrent sequence encoders the harness compares the cells against:
`--cell transformer` and `--cell cnn` (`zoo.builders.ENCODERS`), through the same task heads.

Both take `(batch, time, features)` with an optional Keras mask, return `(batch, time,
units)` (or the last unmasked step's vector with `return_sequences=False`), keep the mask,
and output zeros on masked steps. `causal=True` (a task's one-directional setting) lets a
step see only itself and the past, as a one-directional RNN; `causal=False` sees the
whole sequence, as a bidirectional one.

TransformerEncoder (Vaswani et al. 2017, post-norm), per layer, x₀ = x W_in + PE:

    a = MultiHeadAttention(x, x)          softmax(q kᵀ / √d) v per head; masked keys (and,
                                          when causal, later steps) get no weight
    x = LayerNorm(x + a)
    x = LayerNorm(x + relu(x W₁ + b₁) W₂ + b₂)   W₁: units → 2·units

PE is the sinusoidal position encoding (any length, no weights). Cost per sequence grows
as T² (attention). Streamed (`step`, causal only), step t projects its input once and
appends its keys and values to a cache, K_t = [K_{t−1}; x_t W_k], V_t likewise, per layer:

    a_t = softmax(q_t K_tᵀ / √d) V_t      q_t = x_t W_q

so a step's cost and the cache (2 · layers · t · units numbers per stream) grow with t,
where an RNN's step and state are the same at any t.

ConvEncoder (a temporal convolutional network, Bai et al. 2018, one convolution per
block), x₀ = x W_in, per layer l = 0, 1, ...:

    x = x + relu(conv1d(x; kernel k, dilation 2ˡ))     'causal' or 'same' padding

so the receptive field is 1 + (k − 1)(2^L − 1) steps: fixed by the depth, where an RNN's
is unbounded. Masked steps are zeroed before every convolution. Streamed (`step`, causal
only), layer l keeps its last (k − 1)·2ˡ inputs and convolves them with the new one: a
constant cost and state per step, like an RNN's, but a window of fixed length.

Both streamed: `stream_state(batch, past_steps)` gives the state after `past_steps` steps
(zeros, its shapes are what matter for cost and memory; 0: the state before any input),
and `step(x_t, state) -> (y_t, state)` equals the causal `call` on the whole sequence, step
by step (tests/test_encoders.py).
"""

import math

import keras
from keras import ops


def _last_unmasked(sequences, mask):
    """`sequences[b, t_b]` with t_b the last step where `mask` is true (the last step without a mask)."""
    if mask is None:
        return sequences[:, -1]
    steps = ops.shape(sequences)[1]
    positions = ops.arange(steps)[None, :]
    last = ops.max(ops.where(mask, positions, -1), axis=1)
    return ops.take_along_axis(sequences, ops.maximum(last, 0)[:, None, None], axis=1)[:, 0] * ops.cast(
        last >= 0, sequences.dtype)[:, None]


def sinusoid_positions(steps, units, dtype="float32"):
    """The sinusoidal position encoding, `(steps, units)`: sin/cos of t / 10000^(2i/units)."""
    positions = ops.cast(ops.arange(steps), dtype)[:, None]
    rates = ops.exp(ops.cast(ops.arange(0, units, 2), dtype) * (-math.log(10000.0) / units))[None, :]
    angles = positions * rates
    encoding = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (steps, -1))
    return encoding[:, :units]


class _SequenceEncoder(keras.layers.Layer):
    """What both encoders share: arguments, masking, the last step, serialisation."""

    def __init__(self, units, num_layers=1, causal=False, dropout=0.0, return_sequences=True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.num_layers, self.causal = units, num_layers, causal
        self.dropout_rate, self.return_sequences = dropout, return_sequences
        self.supports_masking = True
        self.input_projection = keras.layers.Dense(units, name="input_projection")
        self.dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        self.input_projection.build(input_shape)
        self.build_blocks((*input_shape[:2], self.units))
        self.built = True

    def call(self, inputs, mask=None, training=False):
        keep = None if mask is None else ops.cast(mask, self.compute_dtype)[:, :, None]
        hidden = self.encode(self.input_projection(inputs if keep is None else inputs * keep), mask, keep, training)
        if keep is not None:
            hidden = hidden * keep
        return hidden if self.return_sequences else _last_unmasked(hidden, mask)

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def _check_streamable(self):
        if not self.causal:
            raise ValueError(f"{self.name}: streaming needs a causal encoder (a bidirectional one sees the future).")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:2], self.units) if self.return_sequences else (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers, "causal": self.causal,
                "dropout": self.dropout_rate, "return_sequences": self.return_sequences}


@keras.saving.register_keras_serializable(package="zoo")
class TransformerEncoder(_SequenceEncoder):
    """A small Transformer encoder (see the module docstring); heads of 16 dimensions."""

    def __init__(self, units, num_layers=1, causal=False, dropout=0.0, return_sequences=True, **kwargs):
        super().__init__(units, num_layers, causal, dropout, return_sequences, **kwargs)
        heads = max(1, units // 16)
        self.attention = [keras.layers.MultiHeadAttention(heads, units // heads, dropout=dropout, name=f"attention_{i}")
                          for i in range(num_layers)]
        self.feed_forward = [(keras.layers.Dense(2 * units, activation="relu", name=f"feed_forward_{i}_in"),
                              keras.layers.Dense(units, name=f"feed_forward_{i}_out")) for i in range(num_layers)]
        self.norms = [(keras.layers.LayerNormalization(name=f"norm_{i}_attention"),
                       keras.layers.LayerNormalization(name=f"norm_{i}_feed_forward")) for i in range(num_layers)]

    def build_blocks(self, shape):
        for attention, (inner, outer), norms in zip(self.attention, self.feed_forward, self.norms):
            attention.build(shape, shape)
            inner.build(shape)
            outer.build((*shape[:2], 2 * self.units))
            for norm in norms:
                norm.build(shape)

    def encode(self, hidden, mask, keep, training):
        steps = ops.shape(hidden)[1]
        hidden = hidden + ops.cast(sinusoid_positions(steps, self.units), hidden.dtype)[None]
        attention_mask = None if mask is None else ops.logical_and(mask[:, None, :], mask[:, :, None])
        for attention, (inner, outer), (first_norm, second_norm) in zip(self.attention, self.feed_forward, self.norms):
            attended = attention(hidden, hidden, attention_mask=attention_mask, use_causal_mask=self.causal,
                                 training=training)
            hidden = first_norm(hidden + self.dropout(attended, training=training))
            hidden = second_norm(hidden + self.dropout(outer(inner(hidden)), training=training))
        return hidden

    def stream_state(self, batch, past_steps=0):
        """Per layer, the cached keys and values of `past_steps` steps: `(batch, past_steps, heads, head_dim)`."""
        self._check_streamable()
        return [ops.zeros((batch, past_steps, a.num_heads, a.key_dim)) for a in self.attention for _ in "kv"]

    def step(self, inputs, state):
        """One streamed step: `inputs (batch, features)` after `state` → `(batch, units)`, new state."""
        self._check_streamable()
        position = ops.shape(state[0])[1]
        hidden = self.input_projection(inputs)[:, None]
        hidden = hidden + ops.cast(sinusoid_positions(position + 1, self.units)[-1], hidden.dtype)
        new_state = []
        blocks = zip(self.attention, self.feed_forward, self.norms, state[0::2], state[1::2])
        for attention, (inner, outer), (first_norm, second_norm), keys, values in blocks:
            # Keras's own projections (MultiHeadAttention has no cache of its own).
            query = attention._query_dense(hidden) / math.sqrt(attention.key_dim)
            keys = ops.concatenate([keys, attention._key_dense(hidden)], axis=1)
            values = ops.concatenate([values, attention._value_dense(hidden)], axis=1)
            scores = ops.einsum("bqhd,bkhd->bhqk", query, keys)
            weights = ops.exp(scores - ops.max(scores, axis=-1, keepdims=True))  # the softmax, also over one key
            weights = weights / ops.sum(weights, axis=-1, keepdims=True)
            attended = attention._output_dense(ops.einsum("bhqk,bkhd->bqhd", weights, values))
            hidden = first_norm(hidden + attended)
            hidden = second_norm(hidden + outer(inner(hidden)))
            new_state += [keys, values]
        return hidden[:, 0], new_state


@keras.saving.register_keras_serializable(package="zoo")
class ConvEncoder(_SequenceEncoder):
    """A dilated 1-D convolutional encoder (see the module docstring)."""

    def __init__(self, units, num_layers=1, causal=False, dropout=0.0, return_sequences=True, kernel_size=5,
                 **kwargs):
        super().__init__(units, num_layers, causal, dropout, return_sequences, **kwargs)
        self.kernel_size = kernel_size
        self.convolutions = [
            keras.layers.Conv1D(units, kernel_size, dilation_rate=2**i, padding="causal" if causal else "same",
                                activation="relu", name=f"convolution_{i}")
            for i in range(num_layers)
        ]

    def build_blocks(self, shape):
        for convolution in self.convolutions:
            convolution.build(shape)

    def encode(self, hidden, mask, keep, training):
        for convolution in self.convolutions:
            convolved = convolution(hidden if keep is None else hidden * keep)
            hidden = hidden + self.dropout(convolved, training=training)
        return hidden

    def stream_state(self, batch, past_steps=0):
        """Per layer l, its last (k − 1)·2ˡ inputs (zeros before the start), whatever `past_steps`."""
        self._check_streamable()
        return [ops.zeros((batch, (self.kernel_size - 1) * c.dilation_rate[0], self.units)) for c in self.convolutions]

    def step(self, inputs, state):
        """One streamed step: `inputs (batch, features)` after `state` → `(batch, units)`, new state."""
        self._check_streamable()
        hidden, new_state = self.input_projection(inputs), []
        for convolution, past in zip(self.convolutions, state):
            window = ops.concatenate([past, hidden[:, None]], axis=1)  # (batch, (k − 1)·d + 1, units)
            taps = window[:, :: convolution.dilation_rate[0]]  # (batch, k, units)
            convolved = ops.relu(ops.einsum("bku,kuv->bv", taps, convolution.kernel) + convolution.bias)
            hidden = hidden + convolved
            new_state.append(window[:, 1:])
        return hidden, new_state

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}
