"""A trained language model read by layer name, as `tasks.language_model.task` builds it: `vectorizer`
(TextVectorization) → `embedding` (`zoo.layers.TiedEmbedding`) → recurrent layers → an optional
`projection` (Dense to the embedding size) → the embedding again, reversed, as the output softmax.

`WordPredictor` runs it the three ways its export serves: the next word after a text, a text's
log-probability, and one word at a time with the state in and out (`step`, on-device too).
"""

import math

import keras
import tensorflow as tf

from tasks.language_model.corpus import BOUNDARY
from zoo.builders import cell_state_sizes, optional_layer


class WordPredictor:
    """Next-word probabilities, text scores and a streaming step of one trained language model.

    Every text is read after `BOUNDARY`, the word that begins each text in training, so its first
    word is predicted too. The step's state `[batch, S]` is every recurrent layer's states, flat, in
    order; zeros are the state before any word (feed `BOUNDARY`'s id first).
    """

    def __init__(self, model):
        self.vectorizer = model.get_layer("vectorizer")
        self.embedding = model.get_layer("embedding")
        self.recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
        if not self.recurrent:
            raise ValueError("this language model has no recurrent layer, so no state to step.")
        self.projection = optional_layer(model, "projection")
        self.vocabulary = self.vectorizer.get_vocabulary()
        self.sizes = [size for layer in self.recurrent for size in cell_state_sizes(layer.cell)]
        self.state_size = sum(self.sizes)

    def ids(self, text):
        """Word ids of each text after `BOUNDARY` (batch, longest + 1), 0-padded on the right (by one
        at least, so a text of no words still has a step to predict)."""
        return tf.pad(self.vectorizer(tf.strings.join([BOUNDARY, text], separator=" ")), [[0, 0], [0, 1]])

    def hidden(self, ids):
        """The output-side vectors (batch, time, embedding size) of every position of `ids`."""
        mask = ids > 0
        hidden = self.embedding(ids)
        for layer in self.recurrent:
            hidden = layer(hidden, mask=mask)
        return self.projection(hidden) if self.projection is not None else hidden

    def next_words(self, text, top_k):
        """`{words, probabilities}` (batch, top_k): the likeliest next words after each text."""
        ids = self.ids(text)
        last = tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1) - 1
        hidden = tf.gather(self.hidden(ids), last, axis=1, batch_dims=1)
        probabilities = tf.nn.softmax(self.embedding(hidden, reverse=True))
        top = tf.math.top_k(probabilities, k=min(top_k, len(self.vocabulary)))
        return {"words": tf.gather(tf.constant(self.vocabulary), top.indices), "probabilities": top.values}

    def score(self, text):
        """`{log_probability, words, unknown_words, perplexity}` of each text: the sum over its words of
        log P(word | the words before it), natural log; its words after standardisation (the unknown
        ones count, as the vocabulary's [UNK]). A text with no word is refused."""
        ids = self.ids(text)
        targets = ids[:, 1:]
        logits = self.embedding(self.hidden(ids[:, :-1]), reverse=True)
        counted = tf.cast(targets > 0, tf.float32)
        log_probability = -tf.reduce_sum(counted * tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(targets, tf.int32), logits=logits), axis=1)
        words = tf.reduce_sum(counted, axis=1)
        tf.debugging.assert_positive(
            words, message="score: a text with no words (after lower-casing and removing punctuation) has "
            "nothing to score")
        return {"log_probability": log_probability, "words": tf.cast(words, tf.int32),
                "unknown_words": tf.reduce_sum(tf.cast(targets == 1, tf.int32), axis=1),
                "perplexity": tf.exp(-log_probability / words)}

    def initial_state(self, batch_size):
        return tf.zeros([batch_size, self.state_size])

    def step(self, token, state):
        """`{logits, state}`: the next word's logits (batch, vocabulary) after `token` (batch,) ids
        given the state before it, and the state after it."""
        batch = tf.shape(token)[0]
        states = iter(tf.split(state, self.sizes, axis=1))
        # The embedding's rows themselves: a lookup through the layer would attach its padding mask,
        # which a cell called alone does not take.
        hidden, new_states = tf.gather(self.embedding.embeddings, token), []
        for layer in self.recurrent:
            hidden, layer_states = layer.cell(hidden, [next(states) for _ in cell_state_sizes(layer.cell)])
            new_states += list(layer_states)
        if self.projection is not None:
            hidden = self.projection(hidden)
        state = tf.concat([tf.reshape(s, [batch, -1]) for s in new_states], axis=1)
        return {"logits": self.embedding(hidden, reverse=True), "state": state}

    def edge_step(self, token, state):
        """`step` with its state out renamed (an ONNX graph cannot have an input and an output of one name)."""
        outputs = self.step(token, state)
        return {"logits": outputs["logits"], "next_state": outputs["state"]}

    def signatures(self, top_k):
        """`serving_default` (text → next words), `score` (text → log-probability), `step` and
        `initial_state`, as `{name: (function, input_signature)}`."""
        text = [tf.TensorSpec([None], tf.string, name="text")]
        return {
            "serving_default": (lambda text: self.next_words(text, top_k), text),
            "score": (self.score, text),
            "step": (self.step, [tf.TensorSpec([None], tf.int32, name="token"),
                                 tf.TensorSpec([None, self.state_size], tf.float32, name="state")]),
            "initial_state": (lambda batch_size: {"state": self.initial_state(batch_size)},
                              [tf.TensorSpec([], tf.int32, name="batch_size")]),
        }


def perplexity(total_nll, words):
    return math.exp(total_nll / max(words, 1))
