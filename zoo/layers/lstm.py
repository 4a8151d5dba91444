"""Long short-term memory (Hochreiter & Schmidhuber 1997, with forget gate), in Keras's weight layout,
with the variants of Greff et al. 2016, "LSTM: A Search Space Odyssey", as options."""

import keras
from keras import initializers, ops

from zoo.layers.cell import RecurrentCell
from zoo.layers.fused import lstm_sequence
from zoo.layers.recurrent import FusedRNN

# The structural options and their defaults: today's LSTM (no peepholes).
VARIANT_OPTIONS = {
    "input_gate": True,
    "forget_gate": True,
    "output_gate": True,
    "input_activation": True,
    "output_activation": True,
    "peepholes": False,
    "coupled_input_forget": False,
    "full_gate_recurrence": False,
}

# Greff et al.'s eight variants. Their "vanilla" LSTM (V) has peepholes, and every
# variant but NP changes V in one place; NP (no peepholes) is the default LSTM.
GREFF_VARIANTS = {
    "V": {"peepholes": True},
    "NIG": {"peepholes": True, "input_gate": False},
    "NFG": {"peepholes": True, "forget_gate": False},
    "NOG": {"peepholes": True, "output_gate": False},
    "NIAF": {"peepholes": True, "input_activation": False},
    "NOAF": {"peepholes": True, "output_activation": False},
    "NP": {},
    "CIFG": {"peepholes": True, "coupled_input_forget": True},
    "FGR": {"peepholes": True, "full_gate_recurrence": True},
}


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

    The options below (all off by default, which is the LSTM above and Keras's)
    give Greff et al.'s variants; `GREFF_VARIANTS` names their combinations.

        peepholes=True               i, f also get `+ p_i ⊙ c₋`, `+ p_f ⊙ c₋`, and o gets
                                     `+ p_o ⊙ c` (weights `peephole_i/f/o`, `(units,)`)
        input_gate=False      (NIG)  i = 1
        forget_gate=False     (NFG)  f = 1
        output_gate=False     (NOG)  o = 1
        input_activation=False (NIAF) ĉ = x W_c + h₋ U_c + b_c   (no tanh)
        output_activation=False (NOAF) h = o ⊙ c                   (no tanh)
        coupled_input_forget=True (CIFG) f = 1 - i
        full_gate_recurrence=True (FGR)  every gate g in (i, f, o) also gets
                                     `+ [i₋, f₋, o₋] R_g` (weight `gate_recurrent_kernel`,
                                     `(gates * units, gates * units)`); the previous
                                     gate activations are a third state

    A gate that is not computed (NIG, NFG, NOG, and f under CIFG) has no weights:
    `kernel` is `(input_dim, k * units)` with the k computed blocks kept in the
    order `[i, f, c, o]`. Any non-default option steps the cell in the layer: the
    fused recurrence computes the default LSTM only.
    """

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        options = {name: kwargs.pop(name, default) for name, default in VARIANT_OPTIONS.items()}
        super().__init__(units, **kwargs)
        for name, value in options.items():
            if not isinstance(value, bool):
                raise ValueError(f"`{name}` must be True or False, got {value!r}.")
            setattr(self, name, value)
        if self.coupled_input_forget and not (self.input_gate and self.forget_gate):
            raise ValueError(
                "`coupled_input_forget=True` computes f = 1 - i: it needs `input_gate=True` "
                "and `forget_gate=True`."
            )
        self.unit_forget_bias = unit_forget_bias
        # The computed blocks of `a = x W + h₋ U + b`, in Keras's order.
        self.blocks = [
            name
            for name, kept in (
                ("i", self.input_gate),
                ("f", self.forget_gate and not self.coupled_input_forget),
                ("c", True),
                ("o", self.output_gate),
            )
            if kept
        ]
        self.num_gates = len(self.blocks)
        # The sigmoid gates that exist (their previous values feed FGR).
        self.gates = [name for name in ("i", "f", "o") if name in self.blocks]
        self.state_size = [units, units]
        if self.full_gate_recurrence:
            self.state_size.append(len(self.gates) * units)

    @property
    def is_standard(self):
        """True for the plain LSTM, the one `zoo.layers.fused.lstm_sequence` computes."""
        return all(getattr(self, name) == default for name, default in VARIANT_OPTIONS.items())

    def build(self, input_shape):
        super().build(input_shape)
        if self.peepholes:
            for name in self.gates:
                setattr(self, f"peephole_{name}", self._add_gate_weight(f"peephole_{name}", (self.units,), "kernel"))
        if self.full_gate_recurrence:
            width = len(self.gates) * self.units
            self.gate_recurrent_kernel = self._add_gate_weight(
                "gate_recurrent_kernel", (width, width), "recurrent"
            )

    def bias_initial_value(self):
        if not self.unit_forget_bias or "f" not in self.blocks:
            return self.bias_initializer
        units, initializer = self.units, self.bias_initializer
        before, after = self.blocks.index("f"), self.num_gates - self.blocks.index("f") - 1

        def bias_with_unit_forget_gate(shape, dtype=None):
            parts = [initializers.get("ones")((units,), dtype=dtype)]
            if before:
                parts.insert(0, initializer((units * before,), dtype=dtype))
            if after:
                parts.append(initializer((units * after,), dtype=dtype))
            return ops.concatenate(parts)

        return bias_with_unit_forget_gate

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states[:2]
        inputs, h_dropped = self.dropped(inputs, h_prev, training)
        a = ops.matmul(inputs, self.kernel) + ops.matmul(h_dropped, self.recurrent_weights(training))
        if self.use_bias:
            a = a + self.bias  # (batch, num_gates * units)
        if self.is_standard:
            a_i, a_f, a_c, a_o = ops.split(a, 4, axis=-1)
            i = self.recurrent_activation(a_i)
            f = self.recurrent_activation(a_f)
            candidate = self.activation(a_c)
            o = self.recurrent_activation(a_o)
            c = f * c_prev + i * candidate
            h = o * self.activation(c)
            return h, [h, c]
        return self._variant_step(dict(zip(self.blocks, ops.split(a, self.num_gates, axis=-1))), states)

    def _variant_step(self, a, states):
        """The step with the variant options; `a` maps block names to `x W + h₋ U + b`."""
        c_prev = states[1]
        if self.full_gate_recurrence:
            gate_input = ops.matmul(states[2], self.gate_recurrent_kernel)  # (batch, gates * units)
            for name, part in zip(self.gates, ops.split(gate_input, len(self.gates), axis=-1)):
                a[name] = a[name] + part
        if self.peepholes:
            for name in ("i", "f"):
                if name in a:
                    a[name] = a[name] + getattr(self, f"peephole_{name}") * c_prev
        one = ops.ones_like(c_prev)
        i = self.recurrent_activation(a["i"]) if self.input_gate else one
        if self.coupled_input_forget:
            f = 1.0 - i
        else:
            f = self.recurrent_activation(a["f"]) if self.forget_gate else one
        candidate = self.activation(a["c"]) if self.input_activation else a["c"]
        c = f * c_prev + i * candidate
        if self.output_gate:
            a_o = a["o"] + self.peephole_o * c if self.peepholes else a["o"]
            o = self.recurrent_activation(a_o)
        else:
            o = one
        h = o * (self.activation(c) if self.output_activation else c)
        new_states = [h, c]
        if self.full_gate_recurrence:
            computed = {"i": i, "f": f, "o": o}
            new_states.append(ops.concatenate([computed[name] for name in self.gates], axis=-1))
        return h, new_states

    def get_initial_state(self, batch_size=None):
        zeros = super().get_initial_state(batch_size)[0]
        states = [zeros, ops.zeros_like(zeros)]
        if self.full_gate_recurrence:
            states.append(ops.zeros((batch_size, self.state_size[2]), dtype=self.compute_dtype))
        return states

    def get_config(self):
        variant = {name: getattr(self, name) for name in VARIANT_OPTIONS}
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias, **variant}


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(FusedRNN):
    """LSTM layer: `LSTMCell` over time, a drop-in for `keras.layers.LSTM`.

    Same arguments, weights and outputs as `keras.layers.LSTM`. On the TensorFlow
    backend with tanh/sigmoid activations it runs the whole sequence through
    `zoo.layers.fused.lstm_sequence` (hand-written backward pass; XLA-compiled
    loops on GPU); otherwise it steps `LSTMCell` like
    `keras.layers.RNN` does. The variant options of `LSTMCell` (Greff et al.
    2016; e.g. `LSTM(64, peepholes=True, coupled_input_forget=True)` is CIFG)
    always step the cell.
    """

    cell_class = LSTMCell
    cell_arguments = ("unit_forget_bias", *VARIANT_OPTIONS)

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        options = {name: kwargs.pop(name, default) for name, default in VARIANT_OPTIONS.items()}
        super().__init__(units, unit_forget_bias=unit_forget_bias, **options, **kwargs)

    @property
    def unit_forget_bias(self):
        return self.cell.unit_forget_bias

    def _fused_path_applies(self, training):
        return self.cell.is_standard and super()._fused_path_applies(training)

    def cudnn_conditions(self):
        options = ", ".join(f"{name}={getattr(self.cell, name)}" for name, default in VARIANT_OPTIONS.items()
                            if getattr(self.cell, name) != default)
        return [(self.cell.is_standard, f"{options} (cuDNN computes the standard LSTM only)")]

    def cudnn_sequence(self, sequences, initial_state, mask, recurrent_kernel):
        from keras.src.backend.tensorflow import rnn as keras_rnn  # Keras's cuDNN call, our layout

        return keras_rnn.lstm(
            sequences, initial_state[0], initial_state[1], mask, self.cell.kernel, recurrent_kernel,
            self.cell.bias, self.cell.activation, self.cell.recurrent_activation,
            return_sequences=self.return_sequences, go_backwards=self.go_backwards,
        )

    def fused_states(self, inputs, initial_state, mask, recurrent_kernel):
        h0, c0 = initial_state
        states, h_last, c_last = lstm_sequence(
            inputs, self.cell.kernel.value, self.input_bias(), recurrent_kernel,
            h0, c0, mask,
        )
        return states, [h_last, c_last]
