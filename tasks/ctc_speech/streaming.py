"""A CTC speech model on audio: the frames its logits hold, and the same model run chunk by chunk.

The model is read by layer name, as the CTC speech task builds it: `log_mel`
(`front_end.LogMelSpectrogram`) → an optional `subsampling`
(`front_end.ConvSubsampling`) → recurrent layers (`keras.layers.RNN`) → `logits`
(`Dense`, blank last) → `tasks.ctc_speech.ctc.PadAsBlank`. One output frame covers
`output_frame_samples(model)` samples.

A unidirectional model with causal normalisation looks at the past only, so
`StreamingRecognizer` can run it on chunks of audio, each layer continuing from its
state, and give the logits of the whole utterance.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from zoo.builders import cell_state_sizes, optional_layer


def output_frame_samples(model):
    """Samples per output frame: the log-mel hop times the subsampling stride."""
    subsampling = optional_layer(model, "subsampling")
    return model.get_layer("log_mel").frame_step * (subsampling.stride if subsampling else 1)


def output_lengths(model, lengths):
    """Frames of the model's logits that hold `lengths` samples."""
    frames = model.get_layer("log_mel").frame_lengths(lengths)
    subsampling = optional_layer(model, "subsampling")
    return frames if subsampling is None else subsampling.output_lengths(frames)


def can_stream(model):
    """Whether every layer of the model looks at the past only (see `StreamingRecognizer`)."""
    bidirectional = any(isinstance(layer, keras.layers.Bidirectional) for layer in model.layers)
    return not bidirectional and model.get_layer("log_mel").causal


def audio_chunks(waveform, chunk_samples):
    """`(1, chunk_samples)` float32 pieces of a 1-D `waveform` in order, the last zero-padded:
    what a streaming step takes, one call each."""
    audio = np.pad(np.asarray(waveform, "float32"), (0, -len(waveform) % chunk_samples))
    return [audio[None, start : start + chunk_samples] for start in range(0, len(audio), chunk_samples)]


class StreamingRecognizer:
    """Runs a unidirectional model on audio chunks, with all state in one flat tensor.

    The state `[batch, S]` holds, in order: the log-mel layer's last samples and
    running sums, the convolution's last input frames, each recurrent layer's
    states, and the previous frame's greedy symbol plus one (0: none or blank), so
    zeros are the state before any audio. Each layer gives the shapes of its states
    (`stream_state_shapes`, a recurrent cell's `state_size`); `state_shapes` lists
    them per stage and `sizes` their flat widths. A chunk must be a whole number of
    `chunk_samples` (one output frame: 320 samples, 40 ms, with a 10 ms hop and stride 4).
    """

    def __init__(self, model, alphabet, unroll=False):
        """`unroll`: the recurrent layers as chains of steps, for a chunk length fixed when tracing
        (the on-device step, `zoo.edge`)."""
        if not can_stream(model):
            raise ValueError(
                "streaming needs a unidirectional model with causal normalisation "
                "(--no-bidirectional, --normalization causal)."
            )
        self.log_mel = model.get_layer("log_mel")
        self.subsampling = optional_layer(model, "subsampling")
        self.recurrent = [
            (layer, keras.layers.RNN(layer.cell, return_sequences=True, return_state=True, unroll=unroll))
            for layer in model.layers
            if isinstance(layer, keras.layers.RNN)
        ]
        self.dense = model.get_layer("logits")
        self.alphabet = alphabet
        self.blank = len(alphabet)
        self.chunk_samples = output_frame_samples(model)
        # One list of state shapes (without the batch) per stage, in the order of the flat state.
        self.state_shapes = [self.log_mel.stream_state_shapes()]
        if self.subsampling:
            self.state_shapes.append(self.subsampling.stream_state_shapes(self.log_mel.feature_size))
        for layer, _ in self.recurrent:
            self.state_shapes.append([(size,) for size in cell_state_sizes(layer.cell)])
        self.state_shapes.append([(1,)])  # previous symbol + 1
        self.sizes = [math.prod(shape) for stage in self.state_shapes for shape in stage]
        self.state_size = sum(self.sizes)

    def initial_state(self, batch_size):
        return tf.zeros([batch_size, self.state_size])

    def signatures(self):
        """The SavedModel signatures `step` (`audio`, `state` → `text`, `logits`, `state`) and
        `initial_state` (`batch_size` → `state`), as `{name: (function, input_signature)}`."""
        return {
            "step": (
                self.step,
                [
                    tf.TensorSpec([None, None], tf.float32, name="audio"),
                    tf.TensorSpec([None, self.state_size], tf.float32, name="state"),
                ],
            ),
            "initial_state": (
                lambda batch_size: {"state": self.initial_state(batch_size)},
                [tf.TensorSpec([], tf.int32, name="batch_size")],
            ),
        }

    def step(self, audio, state):
        """`{text, logits, state}` for a chunk of `audio` [batch, samples] after `state`: the text
        is what greedy CTC emits in this chunk."""
        logits, symbols, previous, state = self._advance(audio, state)
        # Greedy CTC emission: a symbol that is not blank and differs from the frame before.
        before = tf.concat([previous[:, None], symbols[:, :-1]], axis=1)
        emitted = tf.ragged.boolean_mask(symbols, (symbols != self.blank) & (symbols != before))
        text = tf.strings.reduce_join(tf.gather(tf.constant(list(self.alphabet)), emitted), axis=-1)
        return {"text": text, "logits": logits, "state": state}

    def edge_step(self, audio, state):
        """`{logits, next_state}`: `step` without the text (strings are not LiteRT builtins), its
        state renamed (an ONNX graph cannot have an input and an output of the same name); the
        on-device step (`zoo.edge`), traced on one chunk of fixed length with unrolled layers."""
        logits, _, _, state = self._advance(audio, state)
        return {"logits": logits, "next_state": state}

    def _advance(self, audio, state):
        """(logits, greedy symbols, the symbol before the chunk, new state)."""
        sample_rate = self.log_mel.sample_rate
        tf.debugging.assert_equal(
            tf.shape(audio)[1] % self.chunk_samples, 0,
            message=f"step: audio chunks must hold a multiple of {self.chunk_samples} samples "
            f"({1000 * self.chunk_samples // sample_rate} ms at {sample_rate} Hz)",
        )
        batch = tf.shape(audio)[0]
        parts = iter(tf.split(state, self.sizes, axis=1))
        states = iter([[tf.reshape(next(parts), [batch, *shape]) for shape in stage] for stage in self.state_shapes])
        new_states = []
        hidden, log_mel_states = self.log_mel.stream(audio, next(states))
        new_states += log_mel_states
        if self.subsampling:
            hidden, subsampling_states = self.subsampling.stream(hidden, next(states))
            new_states += subsampling_states
        for _, rnn in self.recurrent:
            hidden, *rnn_states = rnn(hidden, initial_state=next(states))
            new_states += rnn_states
        logits = self.dense(hidden)  # (batch, frames, symbols + 1)

        symbols = tf.argmax(logits, axis=-1, output_type=tf.int32)
        (previous,) = next(states)
        previous = tf.cast(tf.round(previous[:, 0]), tf.int32) - 1
        previous = tf.where(previous < 0, self.blank, previous)
        last = tf.concat([previous[:, None], symbols], axis=1)[:, -1]
        new_states.append(tf.cast(tf.where(last == self.blank, 0, last + 1), tf.float32)[:, None])
        state = tf.concat([tf.reshape(s, [batch, -1]) for s in new_states], axis=1)
        return logits, symbols, previous, state


# ------------------------------------------------ on device (an EdgeModel of `step`)


def stream_chunks(step, waveform):
    """Yields each chunk's `(frames, symbols)` logits as `waveform` (samples) streams through a
    speech model's on-device step (an `EdgeModel`) from a zero state, the last chunk zero-padded."""
    (_, chunk), _ = step.inputs["audio"]
    state = np.zeros([1, step.inputs["state"][0][1]], "float32")
    for audio in audio_chunks(waveform, chunk):
        outputs = step(audio=audio, state=state)
        state = outputs["next_state"]
        yield outputs["logits"][0]


def stream_logits(step, waveform):
    """The logits of the whole `waveform` streamed through the step (`stream_chunks`)."""
    return np.concatenate(list(stream_chunks(step, waveform)))


def greedy_text(logits, alphabet):
    """Greedy CTC on (frames, symbols) logits, blank last: each frame's argmax, repeats and blanks dropped."""
    symbols = np.argmax(logits, axis=-1)
    return "".join(alphabet[s] for i, s in enumerate(symbols)
                   if s != len(alphabet) and (i == 0 or s != symbols[i - 1]))
