"""Building blocks the task models are made of: the named cells and encoders, recurrent stacks, masked pooling."""

import keras
from keras import ops

from zoo import cell_names
from zoo.encoders import ConvEncoder, TransformerEncoder
from zoo.layers import GRU, LSTM
from zoo.layers.lstm import GREFF_VARIANTS

# The recurrent layer behind each `--cell` name. The keras_* and rnn entries are
# the comparison baselines.
CELLS = {
    "gru": lambda units, **kw: GRU(units, **kw),
    "gru_reset_before": lambda units, **kw: GRU(units, reset_after=False, **kw),
    "lstm": lambda units, **kw: LSTM(units, **kw),
    "keras_gru": lambda units, **kw: keras.layers.GRU(units, **kw),
    "keras_lstm": lambda units, **kw: keras.layers.LSTM(units, **kw),
    "rnn": lambda units, **kw: keras.layers.SimpleRNN(units, **kw),
}

# Greff et al. 2016's LSTM variants: `lstm_peephole` is their vanilla LSTM (V),
# `lstm_nig`, `lstm_cifg`, ... change it in one place; their NP is `lstm`.
GREFF_CELLS = {
    ("lstm_peephole" if variant == "V" else f"lstm_{variant.lower()}"): options
    for variant, options in GREFF_VARIANTS.items()
    if variant != "NP"
}
CELLS.update(
    {name: (lambda units, options=options, **kw: LSTM(units, **options, **kw)) for name, options in GREFF_CELLS.items()}
)

# The non-recurrent encoders `--cell` also takes (`zoo.encoders`): the attention and
# convolution baselines, stacked by `recurrent_stack` like the cells.
ENCODERS = {"transformer": TransformerEncoder, "cnn": ConvEncoder}
SEQUENCE_MODELS = cell_names.SEQUENCE_MODELS  # every `--cell` name: those of CELLS and ENCODERS


def recurrent_layer(cell, units, **kwargs):
    """One recurrent layer of the named cell, e.g. `recurrent_layer("gru", 64)`."""
    if cell not in CELLS:
        raise ValueError(f"Unknown cell {cell!r}; choose one of {sorted(CELLS)}.")
    return CELLS[cell](units, **kwargs)


def sequence_layer(cell, units, **kwargs):
    """One layer of the named cell, or of an `ENCODERS` name (causal, as a one-directional RNN)."""
    if cell in ENCODERS:
        return ENCODERS[cell](units, causal=True, **kwargs)
    return recurrent_layer(cell, units, **kwargs)


def recurrent_stack(
    hidden,
    cell="gru",
    units=64,
    num_layers=1,
    bidirectional=False,
    dropout=0.0,
    return_sequences=True,
    name="encoder",
    **layer_options,
):
    """Applies `num_layers` stacked (optionally bidirectional) recurrent layers; for an
    `ENCODERS` name, that encoder with `num_layers` blocks (bidirectional: it sees the whole
    sequence; otherwise causal). `layer_options` go to each recurrent layer (e.g. the zoo
    cells' `weight_dropout`)."""
    if cell in ENCODERS:
        return ENCODERS[cell](units, num_layers=num_layers, causal=not bidirectional, dropout=dropout,
                              return_sequences=return_sequences, name=f"{name}_{cell}")(hidden)
    for index in range(num_layers):
        last = index == num_layers - 1
        layer = recurrent_layer(
            cell,
            units,
            return_sequences=return_sequences or not last,
            dropout=dropout,
            name=f"{name}_{cell}_{index}",
            **layer_options,
        )
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"{name}_bi{cell}_{index}")
        hidden = layer(hidden)
    return hidden


def optional_layer(model, name):
    """The model's layer of that name, or None (`model.get_layer` raises instead)."""
    return next((layer for layer in model.layers if layer.name == name), None)


def cell_state_sizes(cell):
    """A recurrent cell's state sizes as a list (Keras gives an int for a single state): what a
    streaming step carries for it."""
    return list(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]


def configured_stack(hidden, config, **options):
    """`recurrent_stack` of the shared hyperparameters in a task's config (`cell`, `units`,
    `num_layers`, `bidirectional`), with the task's own `options` (dropout, return_sequences)."""
    return recurrent_stack(hidden, cell=config["cell"], units=config["units"], num_layers=config["num_layers"],
                           bidirectional=config["bidirectional"], **options)


@keras.saving.register_keras_serializable(package="zoo")
class MaskedMeanMaxPooling(keras.layers.Layer):
    """`[mean_t h_t, max_t h_t]` over the unmasked steps; zeros for an empty sequence."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)  # (batch, time, 1)
        count = ops.sum(weights, axis=1)
        mean = ops.sum(inputs * weights, axis=1) / ops.maximum(count, 1.0)
        maximum = ops.max(ops.where(weights > 0, inputs, -1e9), axis=1)
        maximum = ops.where(count > 0, maximum, ops.zeros_like(maximum))
        return ops.concatenate([mean, maximum], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])
