"""Long short-term memory (Hochreiter & Schmidhuber 1997, with forget gate), in Keras's weight layout."""

import keras
from keras import initializers, ops

from zoo.layers.cell import RecurrentCell
from zoo.layers.fused import lstm_sequence
from zoo.layers.recurrent import FusedRNN


@keras.saving.register_keras_serializable(package="zoo")
class LSTMCell(RecurrentCell):
    """One LSTM step.

    With gates stored in the order `[i, f, c, o]` (`W = kernel`, `U = recurrent_kernel`):

        i = σ(x W_i + h₋ U_i + b_i)        input gate
        f = σ(x W_f + h₋ U_f + b_f)        forget gate
        ĉ = tanh(x W_c + h₋ U_c + b_c)     candidate cell
        o = σ(x W_o + h₋ U_o + b_o)        output gate
        c = f ⊙ c₋ + i ⊙ ĉ
        h = o ⊙ tanh(c)

    `σ` is `recurrent_activation` and `tanh` is `activation`. The state is `[h, c]`.
    `unit_forget_bias=True` starts `b_f` at 1 (Jozefowicz et al. 2015).
    """

    num_gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [units, units]

    def bias_initial_value(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, initializer = self.units, self.bias_initializer

        def bias_with_unit_forget_gate(shape, dtype=None):
            return ops.concatenate(
                [
                    initializer((units,), dtype=dtype),
                    initializers.get("ones")((units,), dtype=dtype),
                    initializer((units * 2,), dtype=dtype),
                ]
            )

        return bias_with_unit_forget_gate

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        inputs, h_dropped = self.dropped(inputs, h_prev, training)
        a = ops.matmul(inputs, self.kernel) + ops.matmul(h_dropped, self.recurrent_kernel)
        if self.use_bias:
            a = a + self.bias  # (batch, 4 * units)
        a_i, a_f, a_c, a_o = ops.split(a, 4, axis=-1)
        i = self.recurrent_activation(a_i)
        f = self.recurrent_activation(a_f)
        candidate = self.activation(a_c)
        o = self.recurrent_activation(a_o)
        c = f * c_prev + i * candidate
        h = o * self.activation(c)
        return h, [h, c]

    def get_initial_state(self, batch_size=None):
        zeros = super().get_initial_state(batch_size)[0]
        return [zeros, ops.zeros_like(zeros)]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(FusedRNN):
    """LSTM layer: `LSTMCell` over time, a drop-in for `keras.layers.LSTM`.

    Same arguments, weights and outputs as `keras.layers.LSTM`. On the TensorFlow
    backend with tanh/sigmoid activations it runs the whole sequence through
    `zoo.layers.fused.lstm_sequence` (hoisted input projection, hand-written
    backward pass, XLA-compiled loops); otherwise it steps `LSTMCell` like
    `keras.layers.RNN` does.
    """

    cell_class = LSTMCell
    cell_arguments = ("unit_forget_bias",)

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, unit_forget_bias=unit_forget_bias, **kwargs)

    @property
    def unit_forget_bias(self):
        return self.cell.unit_forget_bias

    def fused_states(self, xw, initial_state, mask):
        h0, c0 = initial_state
        states, h_last, c_last = lstm_sequence(
            xw, self.cell.recurrent_kernel.value, h0, c0, mask
        )
        return states, [h_last, c_last]

    def cudnn_kwargs(self):
        return {}
