"""CTC (connectionist temporal classification): transcripts as labels, loss, metric, decoding, error rates.

Symbols are indices into an alphabet (a string of distinct characters); the blank
is the last class, `len(alphabet)`, so a model's logits are `(batch, frames,
len(alphabet) + 1)`.

True lengths on both sides, with no second model output: labels are padded with
-1, which is never a symbol, so the label lengths are the counts of labels ≥ 0.
The model's last layer, `PadAsBlank`, sets the logits of padded frames to "blank
with probability 1" (`log p(blank) = 0`). A CTC path through the padded frames
then either emits blank there, at no cost, or has probability 0, so CTC over the
padded length equals CTC over the true length; the same holds for greedy and
beam-search decoding. The model stays one plain `keras.Model` with one output,
and the training loop (`zoo.training`) needs nothing CTC-specific.

Error rates: `edit_distances` is `tf.edit_distance` (Levenshtein, unnormalised),
the same distance `GreedyErrorRate` measures in training; `error_rates` gives
CER and WER (Σ edit distance / Σ reference length) and the exact-match rate.
"""

import keras
import numpy as np
import tensorflow as tf

# ----------------------------------------------------------------------- text


def check_alphabet(alphabet):
    if not alphabet or len(set(alphabet)) != len(alphabet):
        raise ValueError(f"--alphabet {alphabet!r}: needs one or more distinct characters.")


def encode_text(text, alphabet, where):
    """Label indices of `text`; whitespace is dropped unless the alphabet has a space.

    `where` (e.g. "train.csv, row 3") starts the error for a character outside the alphabet.
    """
    if " " not in alphabet:
        text = "".join(text.split())
    index = {symbol: i for i, symbol in enumerate(alphabet)}
    unknown = sorted({c for c in text if c not in index})
    if unknown:
        raise ValueError(
            f"{where}: transcript {text!r} has {''.join(unknown)!r}, not in the alphabet "
            f"{alphabet!r}; fix the transcript or set --alphabet."
        )
    return np.array([index[c] for c in text], dtype="int32")


def decode_labels(labels, alphabet):
    """The text of label indices; padding (-1) is skipped."""
    return "".join(alphabet[i] for i in labels if i >= 0)


def min_frames(labels):
    """Frames CTC needs for `labels`: one per symbol plus a blank between repeats."""
    labels = np.asarray(labels)
    return len(labels) + int(np.sum(labels[1:] == labels[:-1]))


# ------------------------------------------------------------ loss and metric


@keras.saving.register_keras_serializable(package="zoo")
class PadAsBlank(keras.layers.Layer):
    """Logits with padded frames set to `log p(blank) = 0`; consumes the mask.

    `blank_logit − other logits = 1e4` makes the softmax exactly one-hot on blank in
    float32, so CTC and its decoders over the padded length see the true length
    (see the module docstring).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.supports_jit = False  # tf.nn.ctc_loss has no XLA kernel

    def call(self, logits, mask=None):
        if mask is None:
            return logits
        classes = tf.shape(logits)[-1]
        blank = tf.concat([tf.fill([classes - 1], -1e4), [0.0]], axis=0)  # (classes,)
        return tf.where(mask[..., None], logits, tf.cast(blank, logits.dtype))

    def compute_mask(self, inputs, previous_mask=None):
        return None


def sparse_labels(labels):
    """SparseTensor of the labels ≥ 0 (padding is -1; 0 is a symbol)."""
    labels = tf.cast(labels, tf.int32)
    indices = tf.where(labels >= 0)
    return tf.SparseTensor(indices, tf.gather_nd(labels, indices), tf.shape(labels, out_type=tf.int64))


@keras.saving.register_keras_serializable(package="zoo")
class CTCLoss(keras.losses.Loss):
    """CTC negative log-likelihood per utterance; blank is the last class.

    `y_true`: labels `(batch, max symbols)` padded with -1; `y_pred`: logits
    `(batch, frames, classes)` from a model ending in `PadAsBlank`. An empty
    transcript has one path, all blanks, costing `−Σ_t log p_t(blank)`; TF's CTC
    kernel rejects empty labels, so it gets a one-symbol stand-in whose loss is
    replaced by that cost.
    """

    def __init__(self, name="ctc", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels = tf.pad(tf.cast(y_true, tf.int32), [[0, 0], [0, 1]], constant_values=-1)
        empty = labels[:, 0] < 0  # (batch,)
        stand_in = tf.where(empty, 0, labels[:, 0])
        labels = tf.concat([stand_in[:, None], labels[:, 1:]], axis=1)
        frames = tf.fill([tf.shape(y_pred)[0]], tf.shape(y_pred)[1])
        loss = tf.nn.ctc_loss(
            sparse_labels(labels), y_pred, label_length=None, logit_length=frames,
            logits_time_major=False, blank_index=-1,
        )
        all_blank = -tf.reduce_sum(tf.nn.log_softmax(y_pred)[..., -1], axis=1)
        return tf.where(empty, all_blank, loss)


@keras.saving.register_keras_serializable(package="zoo")
class GreedyErrorRate(keras.metrics.Metric):
    """Symbol error rate of greedy CTC decoding: Σ edit distance / Σ reference length."""

    def __init__(self, name="cer", **kwargs):
        super().__init__(name=name, **kwargs)
        self.errors = self.add_variable(shape=(), initializer="zeros", name="errors")
        self.symbols = self.add_variable(shape=(), initializer="zeros", name="symbols")

    def update_state(self, y_true, y_pred, sample_weight=None):
        reference = sparse_labels(y_true)
        frames = tf.fill([tf.shape(y_pred)[0]], tf.shape(y_pred)[1])
        (decoded,), _ = tf.nn.ctc_greedy_decoder(tf.transpose(y_pred, [1, 0, 2]), frames)
        errors = tf.edit_distance(tf.cast(decoded, tf.int32), reference, normalize=False)
        self.errors.assign_add(tf.reduce_sum(tf.cast(errors, "float32")))
        self.symbols.assign_add(tf.cast(tf.size(reference.values), "float32"))

    def result(self):
        return self.errors / tf.maximum(self.symbols, 1.0)


# ------------------------------------------------------------------- decoding


def ctc_decode(logits, frame_lengths, alphabet, beam_width=1):
    """Strings `[batch]` from logits `(batch, frames, len(alphabet) + 1)`, greedy or beam search."""
    time_major = tf.transpose(logits, [1, 0, 2])
    frame_lengths = tf.cast(frame_lengths, tf.int32)
    if beam_width > 1:
        (decoded,), _ = tf.nn.ctc_beam_search_decoder(time_major, frame_lengths, beam_width, top_paths=1)
    else:
        (decoded,), _ = tf.nn.ctc_greedy_decoder(time_major, frame_lengths)
    symbols = tf.RaggedTensor.from_sparse(decoded)
    return tf.strings.reduce_join(tf.gather(tf.constant(list(alphabet)), symbols), axis=-1)


# ---------------------------------------------------------------- error rates


def edit_distances(references, hypotheses):
    """Levenshtein distance of each (reference, hypothesis) pair: an int64 array.

    Each is a sequence of strings (a string is a sequence of characters); unequal
    counts of references and hypotheses are paired as `zip` pairs them.
    """
    pairs = list(zip(references, hypotheses))
    if not pairs:
        return np.zeros(0, "int64")

    def sparse(sequences):
        return tf.ragged.constant([list(s) for s in sequences], dtype=tf.string, ragged_rank=1).to_sparse()

    truth, hypothesis = (sparse(side) for side in zip(*pairs))
    return tf.edit_distance(hypothesis, truth, normalize=False).numpy().astype("int64")


def words(text, alphabet):
    """Words of a transcript: space-separated if the alphabet has a space, else each
    symbol (a spoken digit is a word, so for digit strings WER equals CER)."""
    return text.split() if " " in alphabet else list(text)


def error_rates(references, hypotheses, alphabet=""):
    """`cer`, `wer` (Σ edit distance / Σ reference length) and `exact_match` of transcripts.

    `alphabet` decides what a word is (see `words`); without a space in it, WER equals CER.
    """
    symbol_errors = int(edit_distances(references, hypotheses).sum())
    word_errors = int(
        edit_distances([words(r, alphabet) for r in references], [words(h, alphabet) for h in hypotheses]).sum()
    )
    return {
        "cer": symbol_errors / max(1, sum(len(r) for r in references)),
        "wer": word_errors / max(1, sum(len(words(r, alphabet)) for r in references)),
        "exact_match": sum(r == h for r, h in zip(references, hypotheses)) / max(1, len(references)),
    }
