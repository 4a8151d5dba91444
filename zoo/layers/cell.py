"""What the GRU and LSTM cells share: arguments, gate weights, dropout, config.

A cell computes one time step; `GRUCell` and `LSTMCell` add their equations.
Weights are stored fused, as Keras stores them, so that `get_weights()` of a zoo
layer loads into `keras.layers.GRU`/`LSTM` and back:

    kernel            (input_dim, gates * units)   W for all gates
    recurrent_kernel  (units, gates * units)       U for all gates
    bias              (gates * units,) or (2, gates * units)
"""

import keras
from keras import activations, constraints, initializers, ops, regularizers
# No public equivalent: keras.layers.RNN makes and resets dropout masks only for DropoutRNNCell instances.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

_WEIGHT_OPTIONS = ("initializer", "regularizer", "constraint")
_WEIGHT_MODULES = {
    "initializer": initializers,
    "regularizer": regularizers,
    "constraint": constraints,
}


class RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """Base of the zoo cells; `num_gates` is 3 for GRU, 4 for LSTM."""

    num_gates = None

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
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        weight_dropout=0.0,
        **kwargs,
    ):
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive integer, got {units!r}.")
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout),
                           ("weight_dropout", weight_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {rate!r}.")
        kwargs.pop("implementation", None)  # Keras's own cells accept it; one path here.
        super().__init__(**kwargs)
        self.units = units
        self.activation = _activation("activation", activation)
        self.recurrent_activation = _activation(
            "recurrent_activation", recurrent_activation
        )
        self.use_bias = use_bias
        given = locals()
        for weight in ("kernel", "recurrent", "bias"):
            for option in _WEIGHT_OPTIONS:
                name = f"{weight}_{option}"
                setattr(self, name, _WEIGHT_MODULES[option].get(given[name]))
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.weight_dropout = float(weight_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = units
        self.output_size = units

    def bias_shape(self):
        return (self.num_gates * self.units,)

    def build(self, input_shape):
        super().build(input_shape)
        width = self.num_gates * self.units
        self.kernel = self._add_gate_weight("kernel", (input_shape[-1], width), "kernel")
        self.recurrent_kernel = self._add_gate_weight(
            "recurrent_kernel", (self.units, width), "recurrent"
        )
        self.bias = (
            self._add_gate_weight("bias", self.bias_shape(), "bias", self.bias_initial_value())
            if self.use_bias
            else None
        )

    def bias_initial_value(self):
        return self.bias_initializer

    def _add_gate_weight(self, name, shape, prefix, initializer=None):
        return self.add_weight(
            shape=shape,
            name=name,
            initializer=initializer or getattr(self, f"{prefix}_initializer"),
            regularizer=getattr(self, f"{prefix}_regularizer"),
            constraint=getattr(self, f"{prefix}_constraint"),
        )

    def dropped(self, inputs, h_prev, training):
        """x and h₋ with dropout applied: one mask per sequence, shared by all gates.

        The masks are made once per batch by `keras.layers.RNN.call` and reused at
        every step (variational dropout, Gal & Ghahramani 2016).
        """
        if training and self.dropout:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout:
            h_prev = h_prev * self.get_recurrent_dropout_mask(h_prev)
        return inputs, h_prev

    def recurrent_weights(self, training):
        """U as this batch uses it: `U ⊙ M / (1 − p)` while training with `weight_dropout=p`, else U.

        DropConnect on the recurrent kernel (Wan et al. 2013; the "weight-dropped LSTM" of
        AWD-LSTM, Merity et al. 2018): one Bernoulli(1 − p) mask `M` of U's shape per batch,
        shared by every time step, so each sequence runs a thinned recurrence. The backward
        pass follows: `∂L/∂U = (∂L/∂Ũ) ⊙ M / (1 − p)` with `Ũ` the thinned kernel, so dropped
        entries get no gradient from that batch. Unlike `recurrent_dropout` (a mask on h₋), it
        leaves the recurrence a plain matrix product, so the fused loops and cuDNN still run it.
        """
        if not (training and self.weight_dropout):
            return self.recurrent_kernel
        return self.recurrent_kernel * self.get_weight_dropout_mask()

    def get_weight_dropout_mask(self):
        """The batch's DropConnect mask (scaled by 1 / (1 − p)), made once like Keras's dropout masks."""
        if getattr(self, "_weight_dropout_mask", None) is None:
            self._weight_dropout_mask = keras.random.dropout(
                ops.ones_like(self.recurrent_kernel), rate=self.weight_dropout, seed=self.seed_generator
            )
        return self._weight_dropout_mask

    def get_recurrent_dropout_mask(self, step_input):
        # keras.layers.RNN makes the masks here before its loop over time (and resets them after
        # the batch, below); the weight mask is made with them, so no loop body makes it.
        if self.weight_dropout:
            self.get_weight_dropout_mask()
        return super().get_recurrent_dropout_mask(step_input)

    def reset_recurrent_dropout_mask(self):
        super().reset_recurrent_dropout_mask()
        self._weight_dropout_mask = None

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "weight_dropout": self.weight_dropout,
            "seed": self.seed,
        }
        for weight in ("kernel", "recurrent", "bias"):
            for option in _WEIGHT_OPTIONS:
                name = f"{weight}_{option}"
                config[name] = _WEIGHT_MODULES[option].serialize(getattr(self, name))
        return {**super().get_config(), **config}


def _activation(argument, identifier):
    try:
        return activations.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Unknown `{argument}`: {identifier!r}. Use a name from keras.activations "
            "(e.g. 'tanh', 'sigmoid', 'relu') or a callable."
        ) from error
