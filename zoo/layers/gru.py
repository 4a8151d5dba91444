"""Gated recurrent unit (Cho et al. 2014), in Keras's weight layout."""

import keras
from keras import ops

from zoo.layers.cell import RecurrentCell
from zoo.layers.fused import gru_sequence
from zoo.layers.recurrent import FusedRNN


@keras.saving.register_keras_serializable(package="zoo")
class GRUCell(RecurrentCell):
    """One GRU step.

    With gates stored in the order `[z, r, h]` (`W = kernel`, `U = recurrent_kernel`):

        z = σ(x W_z + h₋ U_z + b_z)                   update gate
        r = σ(x W_r + h₋ U_r + b_r)                   reset gate
        ĥ = tanh(x W_h + r ⊙ (h₋ U_h + b_h'))         reset_after=True (cuDNN form)
        ĥ = tanh(x W_h + (r ⊙ h₋) U_h + b_h)          reset_after=False (Cho et al.)
        h = z ⊙ h₋ + (1 − z) ⊙ ĥ

    `σ` is `recurrent_activation` and `tanh` is `activation`. With
    `reset_after=True` the bias is `(2, 3U)`: row 0 is added to `x W`, row 1 to
    `h₋ U` (so `b_h'` stays inside the reset product); otherwise it is `(3U,)`.
    """

    num_gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def split_bias(self):
        """(bias added to x W, bias added to h₋ U or None)."""
        if not self.use_bias:
            return None, None
        if self.reset_after:
            return self.bias[0], self.bias[1]
        return self.bias, None

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        inputs, h_dropped = self.dropped(inputs, h_prev, training)
        input_bias, recurrent_bias = self.split_bias()
        units = self.units
        recurrent_kernel = self.recurrent_weights(training)

        xw = ops.matmul(inputs, self.kernel)  # (batch, 3 * units)
        if input_bias is not None:
            xw = xw + input_bias
        x_z, x_r, x_h = ops.split(xw, 3, axis=-1)

        if self.reset_after:
            hu = ops.matmul(h_dropped, recurrent_kernel)  # (batch, 3 * units)
            if recurrent_bias is not None:
                hu = hu + recurrent_bias
            hu_z, hu_r, hu_h = ops.split(hu, 3, axis=-1)
            z = self.recurrent_activation(x_z + hu_z)
            r = self.recurrent_activation(x_r + hu_r)
            candidate = self.activation(x_h + r * hu_h)
        else:
            hu_zr = ops.matmul(h_dropped, recurrent_kernel[:, : 2 * units])
            hu_z, hu_r = ops.split(hu_zr, 2, axis=-1)
            z = self.recurrent_activation(x_z + hu_z)
            r = self.recurrent_activation(x_r + hu_r)
            candidate = self.activation(
                x_h + ops.matmul(r * h_dropped, recurrent_kernel[:, 2 * units :])
            )

        h = z * h_prev + (1.0 - z) * candidate
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@keras.saving.register_keras_serializable(package="zoo")
class GRU(FusedRNN):
    """GRU layer: `GRUCell` over time, a drop-in for `keras.layers.GRU`.

    Same arguments, weights and outputs as `keras.layers.GRU`. On the TensorFlow
    backend with tanh/sigmoid activations it runs the whole sequence through
    `zoo.layers.fused.gru_sequence` (hand-written backward pass; XLA-compiled
    loops on GPU); otherwise it steps `GRUCell` like
    `keras.layers.RNN` does.
    """

    cell_class = GRUCell
    cell_arguments = ("reset_after",)

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, reset_after=reset_after, **kwargs)

    @property
    def reset_after(self):
        return self.cell.reset_after

    def cudnn_conditions(self):
        return [(self.reset_after, "reset_after=False (cuDNN computes the reset-after form only)")]

    def cudnn_sequence(self, sequences, initial_state, mask, recurrent_kernel):
        from keras.src.backend.tensorflow import rnn as keras_rnn  # Keras's cuDNN call, our layout

        return keras_rnn.gru(
            sequences, initial_state[0], mask, self.cell.kernel, recurrent_kernel, self.cell.bias,
            self.cell.activation, self.cell.recurrent_activation, return_sequences=self.return_sequences,
            go_backwards=self.go_backwards, reset_after=True,
        )

    def fused_states(self, inputs, initial_state, mask, recurrent_kernel):
        _, recurrent_bias = self.cell.split_bias()
        if recurrent_bias is None:
            recurrent_bias = ops.zeros((3 * self.units,), dtype=inputs.dtype)
        states, last = gru_sequence(
            inputs,
            self.cell.kernel.value,
            self.input_bias(),
            recurrent_kernel,
            recurrent_bias,
            initial_state[0],
            mask,
            reset_after=self.reset_after,
        )
        return states, [last]
