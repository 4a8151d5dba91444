"""The layer around a zoo cell: Keras's `RNN` machinery plus the fused fast path.

`keras.layers.RNN` already owns what every recurrent layer needs (stateful
states, `return_state`, `return_sequences`, dropout masks, `Bidirectional`
support); a zoo layer reuses it and replaces only `inner_loop`, the loop over
time, by one of three implementations of the same equations:

1. cuDNN (`use_cudnn="auto"` or `True`), with Keras's meaning and conditions: a GPU is
   visible, tanh/sigmoid, `use_bias`, no recurrent dropout, `unroll=False`, GRU
   `reset_after=True`, a standard LSTM (no variant options). Keras's own TensorFlow
   functions (`keras.src.backend.tensorflow.rnn.gru`/`lstm`) run it: they take Keras's
   weight layout, which is the zoo's. cuDNN takes masks of right-padded rows only, so a
   masked call picks at run time (`tf.cond` on `cudnn_takes_mask`): cuDNN for right
   padding, the fused loops for any other mask (Keras would fail an assertion there).
   `use_cudnn=True` where a condition fails raises a ValueError naming it, as Keras does.
2. The fused loops of `zoo.layers.fused` (hand-written backward passes) for tanh/sigmoid
   cells otherwise, and always on CPU.
3. Keras's step-by-step loop over the cell for anything else (other activations,
   `unroll=True`, recurrent dropout while training, the LSTM variants).

All three compute the recurrence in the variables' dtype (float32 under a mixed policy).
"""

import keras
import tensorflow as tf
from keras import activations, ops

from zoo.layers.fused import loops_are_portable


def cudnn_takes_mask(mask):
    """Whether cuDNN computes a (batch, time) `mask`: every row right-padded (ones, then
    zeros) and none fully masked. A scalar bool tensor."""
    mask = tf.cast(mask, tf.bool)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    right_padded = tf.reduce_all(tf.equal(mask, tf.sequence_mask(lengths, tf.shape(mask)[1])))
    return tf.logical_and(right_padded, tf.reduce_all(lengths > 0))


class FusedRNN(keras.layers.RNN):
    """Base of `zoo.GRU` and `zoo.LSTM`.

    Subclasses set `cell_class`, the names of their extra cell arguments in
    `cell_arguments`, and implement `fused_states(inputs, initial_state, mask, recurrent_kernel)`
    over time-major tensors, returning `(states (T, B, U), final_states)`, and
    `cudnn_sequence(sequences, initial_state, mask, recurrent_kernel)`; `recurrent_kernel` is
    the cell's U as the batch uses it (`RecurrentCell.recurrent_weights`: DropConnect'ed while
    training with `weight_dropout`).
    """

    cell_class = None
    cell_arguments = ()

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        weight_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        **kwargs,
    ):
        if use_cudnn not in ("auto", True, False):
            raise ValueError(f"`use_cudnn` must be 'auto', True or False, got {use_cudnn!r}.")
        extra = {name: kwargs.pop(name) for name in self.cell_arguments}
        cell = self.cell_class(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            weight_dropout=weight_dropout,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=f"{self.cell_class.__name__.lower().replace('cell', '')}_cell",
            **extra,
        )
        kwargs.pop("implementation", None)
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)
        self.use_cudnn = use_cudnn

    # The cell's arguments, readable on the layer as on keras.layers.GRU/LSTM.
    units = property(lambda self: self.cell.units)
    activation = property(lambda self: self.cell.activation)
    recurrent_activation = property(lambda self: self.cell.recurrent_activation)
    use_bias = property(lambda self: self.cell.use_bias)
    dropout = property(lambda self: self.cell.dropout)
    recurrent_dropout = property(lambda self: self.cell.recurrent_dropout)
    weight_dropout = property(lambda self: self.cell.weight_dropout)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is not None:
            self._check_initial_state(sequences, initial_state)
        if mask is not None:
            self._check_mask(sequences, mask)
        return super().call(
            sequences, initial_state=initial_state, mask=mask, training=training
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if self.use_cudnn is not False:
            refusal = self.cudnn_refusal()
            if refusal is None:
                return self._cudnn_or_fused_loop(sequences, list(initial_state), mask, training)
            if self.use_cudnn is True:
                raise ValueError(
                    f"{self.name}: use_cudnn=True, but cuDNN cannot compute this layer: {refusal}. "
                    "Pass use_cudnn='auto' to run the zoo's own loops where cuDNN cannot."
                )
        if self._fused_path_applies(training):
            return self._fused_loop(self._dropped(sequences, training), list(initial_state), mask,
                                    self.cell.recurrent_weights(training))
        return super().inner_loop(sequences, initial_state, mask=mask, training=training)

    def cudnn_refusal(self):
        """Why cuDNN cannot compute this layer (Keras's conditions), or None when it can."""
        cell = self.cell
        conditions = [
            (keras.backend.backend() == "tensorflow", "the backend is not TensorFlow"),
            (cell.activation is activations.tanh, "activation is not tanh"),
            (cell.recurrent_activation is activations.sigmoid, "recurrent_activation is not sigmoid"),
            (cell.use_bias, "use_bias=False"),
            (not cell.recurrent_dropout, "recurrent_dropout is set"),
            (not self.unroll, "unroll=True"),
            *self.cudnn_conditions(),
            (not loops_are_portable(), "an export is being traced (portable_loops/unrolled_loops: no cuDNN ops)"),
            (bool(tf.config.list_logical_devices("GPU")), "no GPU is visible"),
        ]
        return next((why for holds, why in conditions if not holds), None)

    def cudnn_conditions(self):
        """The subclass's own (holds, reason it fails) pairs for cuDNN."""
        return []

    def _cudnn_or_fused_loop(self, sequences, initial_state, mask, training):
        """cuDNN, in the variables' dtype; with a mask, cuDNN where every row is right-padded
        and the fused loops otherwise (chosen at run time)."""
        dtype = self.cell.kernel.dtype
        sequences = ops.cast(self._dropped(sequences, training), dtype)
        initial_state = [ops.cast(ops.convert_to_tensor(state), dtype) for state in initial_state]
        self.supports_jit = False  # cuDNN's ops are not XLA's (as Keras's layers)
        recurrent_kernel = self.cell.recurrent_weights(training)
        if mask is None:
            return self.cudnn_sequence(sequences, initial_state, None, recurrent_kernel)
        mask = tf.cast(mask, tf.bool)

        def cudnn():
            last_output, outputs, states = self.cudnn_sequence(sequences, initial_state, mask, recurrent_kernel)
            if self.return_sequences and not self.zero_output_for_mask and not self.go_backwards:
                # Keras's convention without zero_output_for_mask: a padded step repeats the
                # last real output (cuDNN writes zeros there).
                outputs = tf.where(mask[:, :, None], outputs, last_output[:, None, :])
            return last_output, outputs, list(states)

        return tf.cond(cudnn_takes_mask(mask), cudnn,
                       lambda: self._fused_loop(sequences, initial_state, mask, recurrent_kernel))

    def _dropped(self, sequences, training):
        """The input sequences times the cell's dropout mask (one per sequence) when training."""
        cell = self.cell
        if training and cell.dropout:
            return sequences * ops.expand_dims(cell.get_dropout_mask(sequences[:, 0]), 1)
        return sequences

    def _fused_path_applies(self, training):
        cell = self.cell
        return (
            keras.backend.backend() == "tensorflow"
            and not self.unroll
            and cell.activation is activations.tanh
            and cell.recurrent_activation is activations.sigmoid
            and not (training and cell.recurrent_dropout)
        )

    def _fused_loop(self, sequences, initial_state, mask, recurrent_kernel):
        cell = self.cell
        # The recurrence runs in the variables' dtype: float32 under a mixed-precision policy,
        # whose 16-bit compute would lose the running state (`keras.layers.RNN.call` casts
        # the outputs back to the layer's compute dtype).
        state_dtype = cell.kernel.dtype
        inputs = ops.transpose(ops.cast(sequences, state_dtype), (1, 0, 2))  # (time, batch, features)
        mask_tm = None
        if mask is not None:
            mask_tm = ops.expand_dims(ops.cast(ops.transpose(mask), inputs.dtype), -1)
        if self.go_backwards:
            inputs = ops.flip(inputs, axis=0)
            mask_tm = None if mask_tm is None else ops.flip(mask_tm, axis=0)

        states, final_states = self.fused_states(
            inputs, [ops.cast(ops.convert_to_tensor(s), state_dtype) for s in initial_state], mask_tm,
            ops.convert_to_tensor(recurrent_kernel),
        )

        if mask_tm is None:
            outputs, last_output = states, final_states[0]
        else:
            # Keras's conventions: with zero_output_for_mask (set by Bidirectional)
            # a masked step outputs 0; otherwise the output is 0 until the first
            # unmasked step, then the last unmasked step's h.
            if self.zero_output_for_mask:
                shown = mask_tm > 0
            else:
                shown = ops.cumsum(mask_tm, axis=0) > 0
            outputs = ops.where(shown, states, ops.zeros_like(states))
            last_output = outputs[-1]
        if self.return_sequences:
            outputs = ops.transpose(outputs, (1, 0, 2))
        else:
            outputs = ops.expand_dims(last_output, 1)
        return last_output, outputs, final_states

    def input_bias(self):
        """The bias added to `x W` (zeros without `use_bias`)."""
        split_bias = getattr(self.cell, "split_bias", None)
        bias = split_bias()[0] if split_bias else self.cell.bias
        if bias is None:
            return ops.zeros((self.cell.kernel.shape[-1],), dtype=self.cell.kernel.dtype)
        return bias.value if isinstance(bias, keras.Variable) else bias

    def _check_initial_state(self, sequences, initial_state):
        states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
        expected = len(self.state_size)
        if len(states) != expected:
            raise ValueError(
                f"{self.name}: `initial_state` must be a list of {expected} tensor(s) "
                f"of shape (batch, {self.units}), got {len(states)}."
            )
        batch = sequences.shape[0]
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        for index, (state, size) in enumerate(zip(states, sizes)):
            shape = tuple(state.shape)
            if (
                len(shape) != 2
                or shape[1] != size
                or (batch is not None and shape[0] is not None and shape[0] != batch)
            ):
                width = "units" if size == self.units else "state size"
                raise ValueError(
                    f"{self.name}: `initial_state[{index}]` must have shape "
                    f"(batch, {width}) = ({batch}, {size}), got {shape}."
                )

    def _check_mask(self, sequences, mask):
        mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        expected = tuple(sequences.shape[:2])
        shape = tuple(mask.shape)
        if len(shape) != 2 or any(
            m is not None and s is not None and m != s for m, s in zip(shape, expected)
        ):
            raise ValueError(
                f"{self.name}: `mask` must have shape (batch, time) = {expected}, got {shape}."
            )

    def get_config(self):
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        config = super().get_config()
        del config["cell"]
        return {**config, **cell_config, "use_cudnn": self.use_cudnn}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
