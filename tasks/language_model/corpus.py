"""The language model's text: which texts it reads, the held-out ones, and the word windows it trains on.

Sources (`--data`):
  imdb       IMDB's 25k train and 50k unlabelled reviews (`train.*`, `unsup.*` in `--data-dir`, as
             the sentiment task reads them, or TFDS `imdb_reviews`); a review that is also one of
             the 25k test reviews is dropped (270 unlabelled ones are), so an LM never reads the
             texts its classifiers are tested on.
  csv        `--data-dir` with a `train` CSV/TSV (and optionally `test`) holding a text column.
  synthetic  the sentiment task's offline reviews (`tasks.sentiment.synthetic`), labels unused.

Words are the sentiment task's (`tasks.sentiment.layers.standardize_text`, then whitespace),
so an LM's vocabulary, embedding and recurrent weights fit a sentiment classifier. Every text
begins with `BOUNDARY` in the stream, which also gives its first word a context.
"""

import dataclasses
import random

import numpy as np
import tensorflow as tf

from tasks.sentiment.data import imdb_is_available, load_imdb
from tasks.sentiment.layers import standardize_text
from tasks.sentiment.synthetic import synthetic_corpus
from zoo.data import find_table, read_table

BOUNDARY = "xxbos"  # the word before each text (ULMFiT's marker)
SOURCES = ("imdb", "csv", "synthetic")


@dataclasses.dataclass
class Texts:
    """The texts of each split, and where they came from."""

    train: list
    validation: list
    test: list
    source: str
    note: str = ""  # what was dropped or assumed, for the user


def read_texts(config):
    """`Texts` for the config's `data` (None: IMDB where `--data-dir` or TFDS has it, else synthetic)."""
    source = config["data"] or ("imdb" if imdb_is_available(config["data_dir"]) else "synthetic")
    if source == "imdb":
        texts, note = imdb_texts(config["data_dir"])
        return held_out(texts, config, source, note=note)
    if source == "csv":
        train, test = csv_texts(config["data_dir"], config["text_column"])
        return held_out(train, config, source, test=test)
    if source == "synthetic":
        train, test = synthetic_corpus(config["synthetic_texts"], 0, config["seed"])
        return held_out([text for text, _ in train], config, source,
                        note="" if config["data"] else "language_model: IMDB not found offline, using the "
                        "synthetic corpus (for IMDB: --data imdb --data-dir DIR with train/unsup CSV).")
    raise ValueError(f"--data {source!r}: choose one of {', '.join(SOURCES)}.")


def imdb_texts(data_dir):
    """(IMDB's train + unlabelled review texts not among its test texts, a note of what was dropped)."""
    train, test = load_imdb(data_dir)
    unlabelled = _unlabelled_imdb(data_dir)
    test_texts = {text for text, _ in test}
    train = [text for text, _ in train]
    kept = [text for text in train + unlabelled if text not in test_texts]
    dropped_train = sum(text in test_texts for text in train)
    note = (f"IMDB: {len(train)} train + {len(unlabelled)} unlabelled reviews; dropped as also test reviews: "
            f"{dropped_train} train and {len(train) + len(unlabelled) - len(kept) - dropped_train} unlabelled")
    if not unlabelled:
        note += f"; no unsup file in {data_dir}, so the train reviews only"
    return kept, note


def _unlabelled_imdb(data_dir):
    if not data_dir:
        import tensorflow_datasets as tfds

        return [text.decode("utf-8") for text, _ in
                tfds.as_numpy(tfds.load("imdb_reviews", split="unsupervised", as_supervised=True))]
    try:
        path = find_table(data_dir, "unsup")
    except FileNotFoundError:
        return []
    return [row["text"] for row in read_table(path, ["text"])]


def csv_texts(data_dir, column):
    """(train texts, test texts or None) from `data_dir/train.*` and an optional `data_dir/test.*`."""
    if not data_dir:
        raise ValueError("--data csv needs --data-dir, a folder with a train CSV/TSV file (and optionally test).")
    train = _column(find_table(data_dir, "train"), column)
    try:
        test_path = find_table(data_dir, "test")
    except FileNotFoundError:
        return train, None
    return train, _column(test_path, column)


def _column(path, column):
    texts = [row[column] for row in read_table(path, [column])]
    if not any(text.strip() for text in texts):
        raise ValueError(f"{path}: every text in column {column!r} is empty.")
    return texts


def held_out(texts, config, source, test=None, note=""):
    """`Texts`: `texts` shuffled (by `seed`), `validation_fraction` of them held out for validation and,
    without a `test` list, `test_fraction` for test; at least one text each."""
    shuffled = list(texts)
    random.Random(config["seed"]).shuffle(shuffled)
    validation = max(1, round(len(shuffled) * config["validation_fraction"]))
    testing = 0 if test is not None else max(1, round(len(shuffled) * config["test_fraction"]))
    if len(shuffled) - validation - testing < 1:
        raise ValueError(f"language_model data {source}: {len(shuffled)} texts leave none to train on after "
                         f"holding out {validation} for validation and {testing} for test; give more texts.")
    return Texts(
        train=shuffled[validation + testing:],
        validation=shuffled[:validation],
        test=test if test is not None else shuffled[validation:validation + testing],
        source=source,
        note=note,
    )


def word_stream(texts):
    """The words of `texts` in one 1-D string tensor, each text after `BOUNDARY`, standardised as the
    model's vectorizer does it."""
    words = tf.strings.split(standardize_text(tf.constant([f"{BOUNDARY} {text}" for text in texts])))
    return words.flat_values


def word_windows(texts, window_length, split):
    """Strings of `window_length + 1` words cut from the texts' word stream every `window_length`
    words (a window's last word is the next one's first, so every word after the first is a
    target once); the stream's tail, shorter than a window, is one more window. ValueError when
    the `split`'s texts hold no word to predict."""
    words = word_stream(texts)
    count = int(tf.size(words))
    if count < 2:
        raise ValueError(f"language_model {split} texts: {count} word(s) in all; a language model needs "
                         "at least two in a row to learn or score a prediction.")
    starts = np.arange(0, count - 1, window_length)
    full = starts[starts + window_length + 1 <= count]
    windows = []
    if len(full):
        positions = full[:, None] + np.arange(window_length + 1)[None, :]
        windows += list(tf.strings.reduce_join(tf.gather(words, positions), axis=1, separator=" ").numpy())
    windows += [tf.strings.reduce_join(words[start:], separator=" ").numpy() for start in starts[len(full):]]
    return np.array(windows, dtype=object), count
