"""Long-range probes: the adding problem and copy memory, gradient norms through time.

Both tasks need a model to carry information across `length` steps, so the
longest length a cell learns within a fixed training budget measures how long a
dependency it can keep (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

adding      inputs (length, 2): a value in [0, 1) and a marker, 1 at two steps (one
            in each half); target: the sum of the two marked values. Predicting
            the mean, 1, scores MSE 1/6 ≈ 0.167; solved: test MSE below
            `ADDING_SOLVED_MSE` (6% of that).
copy        inputs: `copied` symbols from 1..8, `length - 1` blanks (0), the
            delimiter 9, then `copied` blanks; target: blanks, then the symbols at
            the last `copied` steps. Guessing scores 1/8 on the recalled symbols;
            solved: accuracy on them at least `COPY_SOLVED_ACCURACY`.

Gradient norms: `‖∂L/∂h_t‖` for t = 1..T, the total derivative of the loss on the
last step through the recurrence, from stepping the layer's cell by hand.
"""

import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from evaluation.latency import median_ms
from zoo.builders import sequence_layer

PROBES = ("adding", "copy")
ADDING_SOLVED_MSE = 0.01
COPY_SOLVED_ACCURACY = 0.99
COPY_SYMBOLS = 8  # symbols 1..8; 0 is blank, 9 the delimiter
EMBEDDING_DIM = 16


# ----------------------------------------------------------------------- data


def adding_problem(num_examples, length, rng):
    """(inputs (N, length, 2) float32, targets (N, 1) float32)."""
    values = rng.random((num_examples, length)).astype("float32")
    markers = np.zeros((num_examples, length), "float32")
    rows = np.arange(num_examples)
    half = length // 2
    first, second = rng.integers(0, half, num_examples), rng.integers(half, length, num_examples)
    markers[rows, first] = markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return np.stack([values, markers], axis=-1), targets[:, None]


def copy_memory(num_examples, length, rng, copied=10):
    """(inputs (N, length + 2 copied) int32, targets of the same shape)."""
    symbols = rng.integers(1, COPY_SYMBOLS + 1, (num_examples, copied)).astype("int32")
    inputs = np.zeros((num_examples, length + 2 * copied), "int32")
    targets = np.zeros_like(inputs)
    inputs[:, :copied] = symbols
    inputs[:, copied + length - 1] = COPY_SYMBOLS + 1  # the delimiter: "recall now"
    targets[:, -copied:] = symbols
    return inputs, targets


def probe_data(probe, num_examples, length, rng, copied=10):
    if probe == "adding":
        return adding_problem(num_examples, length, rng)
    if probe == "copy":
        return copy_memory(num_examples, length, rng, copied)
    raise ValueError(f"Unknown probe {probe!r}; choose one of {list(PROBES)}.")


# ---------------------------------------------------------------------- model


def forget_bias_initializer(forget_bias):
    """An LSTM bias `[b_i, b_f, b_c, b_o]` (Keras's layout) of zeros but `b_f = forget_bias`."""
    def initializer(shape, dtype=None):
        units = shape[0] // 4
        return ops.concatenate([ops.zeros((units,)), ops.full((units,), forget_bias), ops.zeros((2 * units,))])

    return initializer


def probe_model(probe, cell, units, forget_bias=None):
    """A one-layer model of the named cell: adding reads the last state, copy every state.
    `forget_bias`: an LSTM's forget-gate bias at the start (else its default, 1)."""
    options = {}
    if forget_bias is not None:
        if cell != "lstm":
            raise ValueError(f"forget_bias is an LSTM setting; cell {cell!r} has no forget gate of that layout.")
        options = {"unit_forget_bias": False, "bias_initializer": forget_bias_initializer(forget_bias)}
    if probe == "adding":
        inputs = keras.Input((None, 2), name="inputs")
        hidden = sequence_layer(cell, units, name="recurrent", **options)(inputs)
        outputs = keras.layers.Dense(1, name="head")(hidden)
    else:
        inputs = keras.Input((None,), dtype="int32", name="inputs")
        hidden = keras.layers.Embedding(COPY_SYMBOLS + 2, EMBEDDING_DIM, name="embedding")(inputs)
        hidden = sequence_layer(cell, units, return_sequences=True, name="recurrent", **options)(hidden)
        outputs = keras.layers.Dense(COPY_SYMBOLS + 1, name="head")(hidden)  # logits, blank = 0
    return keras.Model(inputs, outputs, name=f"{probe}_{cell}")


def probe_loss(probe):
    if probe == "adding":
        return keras.losses.MeanSquaredError()
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def probe_score(probe, model, inputs, targets, copied=10):
    """(score, solved): test MSE for adding, accuracy on the recalled symbols for copy."""
    predictions = model.predict(inputs, batch_size=256, verbose=0)
    if probe == "adding":
        mse = float(np.mean((predictions - targets) ** 2))
        return mse, mse < ADDING_SOLVED_MSE
    recalled = predictions[:, -copied:].argmax(axis=-1)
    accuracy = float(np.mean(recalled == targets[:, -copied:]))
    return accuracy, accuracy >= COPY_SOLVED_ACCURACY


CHECKS_PER_BUDGET = 20  # how often training is checked for "solved": steps to solve, to 1/20 of the budget
CLIPNORM = 1.0  # gradient clipping of every probe run; the LSTM's forget-gate bias starts at 1 (unit_forget_bias)


class SolvedAt(keras.callbacks.Callback):
    """Checks a held-out batch every `every` steps; records the first step at which the
    probe counts as solved there and stops training (the rest of the budget is not needed)."""

    def __init__(self, probe, inputs, targets, copied, every):
        super().__init__()
        self.probe, self.inputs, self.targets, self.copied, self.every = probe, inputs, targets, copied, every
        self.step = None

    def on_train_batch_end(self, batch, logs=None):
        if (batch + 1) % self.every == 0 and probe_score(self.probe, self.model, self.inputs, self.targets,
                                                         self.copied)[1]:
            self.step = batch + 1
            self.model.stop_training = True


def train_probe(probe, cell, length, seed, steps, batch_size=32, units=32, learning_rate=1e-2,
                copied=10, test_examples=512, forget_bias=None):
    """Trains a fresh model on up to `steps` batches of new examples, until a held-out check
    set counts as solved; returns it and a result dict (`steps_to_solve`: that step, or None)."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inputs, targets = probe_data(probe, steps * batch_size, length, rng, copied)
    test_inputs, test_targets = probe_data(probe, test_examples, length, np.random.default_rng(10_000 + seed), copied)
    check = SolvedAt(probe, *probe_data(probe, 256, length, np.random.default_rng(20_000 + seed), copied), copied,
                     every=max(1, steps // CHECKS_PER_BUDGET))
    model = probe_model(probe, cell, units, forget_bias)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate, clipnorm=CLIPNORM), loss=probe_loss(probe))
    start = time.perf_counter()
    history = model.fit(inputs, targets, batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[check])
    seconds = time.perf_counter() - start
    score, solved = probe_score(probe, model, test_inputs, test_targets, copied)
    return model, {
        "score": score,
        "solved": bool(solved),
        "steps_to_solve": check.step if solved else None,
        "final_train_loss": float(history.history["loss"][-1]),
        "parameters": int(model.count_params()),
        "train_seconds": seconds,
    }


# ----------------------------------------------------------- gradients, speed


def hidden_gradient_norms(model, probe, inputs, targets):
    """`‖∂L/∂h_t‖` for each step t (mean over the batch), L the loss on the last step.

    Steps the recurrent layer's cell in Python, so each h_t is a tensor of its own
    and the gradient with respect to it includes every later step's dependence.
    """
    layer = model.get_layer("recurrent")
    cell, head = layer.cell, model.get_layer("head")
    sequence = tf.constant(inputs)
    if probe == "copy":
        sequence = model.get_layer("embedding")(sequence)
    batch = int(sequence.shape[0])
    states = cell.get_initial_state(batch_size=batch)
    states = list(states) if isinstance(states, (list, tuple)) else [states]
    with tf.GradientTape() as tape:
        hidden = []
        for t in range(int(sequence.shape[1])):
            _, states = cell(sequence[:, t], states, training=False)
            states = list(states) if isinstance(states, (list, tuple)) else [states]
            hidden.append(states[0])
        if probe == "adding":
            loss = probe_loss(probe)(targets, head(hidden[-1]))
        else:  # the loss on the last recalled symbol
            loss = probe_loss(probe)(targets[:, -1], head(hidden[-1]))
    gradients = tape.gradient(loss, hidden)
    return np.array([float(tf.reduce_mean(tf.norm(g, axis=-1))) for g in gradients])


def streaming_step(model, past_steps):
    """(one streamed step of the model's `recurrent` layer at batch 1, its input, its state after
    `past_steps` steps): a cell's state is the same at any step, an encoder's may grow."""
    layer = model.get_layer("recurrent")
    x = tf.zeros((1, layer.input.shape[-1]))
    if hasattr(layer, "step"):  # zoo.encoders
        return tf.function(layer.step), x, layer.stream_state(1, past_steps)
    cell = layer.cell
    states = cell.get_initial_state(batch_size=1)
    states = list(states) if isinstance(states, (list, tuple)) else [states]
    return tf.function(lambda inputs, states: cell(inputs, states, training=False)), x, states


def step_latency_ms(model, past_steps=0, repeats=20):
    """(median ms of one streaming step at batch 1 after `past_steps` steps, the bytes of state
    it reads: what a server keeps per stream)."""
    step, x, states = streaming_step(model, past_steps)
    state_bytes = sum(int(np.prod(s.shape)) * s.dtype.size for s in states)
    return median_ms(lambda: step(x, states)[1], repeats), state_bytes  # times fetching the new states
