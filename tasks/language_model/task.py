"""Language modelling: raw text in, the next word out; the encoder the text classifiers fine-tune from.

Data (`--data`, `tasks.language_model.corpus`): imdb (train + unlabelled reviews, never the test
reviews), csv (a text column) or synthetic (the default offline). Held-out texts give the
validation and test splits; the training texts are one word stream cut into windows of
`--window-length` words.

Model: TextVectorization (the sentiment task's words, fitted on the training split, inside the
model) → `zoo.layers.TiedEmbedding` (embedding dropout: `--word-dropout`) → variational dropout
(`--input-dropout`) → GRU/LSTM stack (DropConnect on the recurrent kernel: `--weight-dropout`;
`--dropout` between layers) → dropout → a projection to the embedding size → the same embedding
reversed, the output softmax: sampled (`--num-sampled` words) while training, exact otherwise. The
model takes text and outputs each word's negative log-likelihood; its loss is their mean
(AWD-LSTM's regularisation, Merity et al. 2018, in the zoo's layers).

Metric: test perplexity exp(mean nll) of the held-out texts' words, beside an interpolated
Kneser-Ney n-gram model (`kneser_ney`) on the same words and vocabulary.

Export: `serving_default` (text → the top `--top-k` next words and their probabilities),
`score` (text → log-probability, words, perplexity), `step` (a word id and the state → the next
word's logits and the state) and `initial_state`; on device, `step` alone (a builtin-only LiteRT file).
"""

import keras
import numpy as np
import tensorflow as tf

from tasks.language_model import card
from tasks.language_model.corpus import read_texts, word_windows
from tasks.language_model.figures import next_words_figure
from tasks.language_model.inference import WordPredictor, perplexity
from tasks.language_model.kneser_ney import KneserNey
from tasks.language_model.settings import HYPERPARAMETERS
from tasks.sentiment.layers import standardize_text
from zoo.builders import configured_stack
from zoo.cell_names import ENCODER_NAMES, KERAS_BUILTIN_CELLS
from zoo.layers.embedding import TiedEmbedding
from zoo.task import Data, Metric, Task, register_task

VECTORIZE_BATCH = 1024  # windows per batch when the vocabulary is fitted and ids are counted


@register_task
class LanguageModelTask(Task):
    name = "language_model"
    metric = Metric("test_perplexity", higher_is_better=False)
    tiny = dict(data="synthetic", synthetic_texts=60, vocabulary_size=60, window_length=12, embedding_dim=8,
                units=8, batch_size=8, num_sampled=16)
    baseline_methods = ("kneser_ney",)
    # Cells compared alike (evaluate.py --task): DropConnect is the zoo cells' own option, which Keras's
    # SimpleRNN (the harness's plain-RNN baseline) lacks.
    comparison = {"weight_dropout": 0.0}
    # What a text classifier takes from it (`--init-from`): the word embedding and the recurrent layers.
    encoder_layers = ("embedding", "encoder_")
    encoder_hyperparameters = ("cell", "units", "num_layers", "bidirectional", "embedding_dim", "vocabulary_size")
    hyperparameters = HYPERPARAMETERS

    def resolve(self, config, data=None):
        if config["bidirectional"]:
            raise ValueError("--bidirectional: a language model reads left to right (a backward layer would see "
                             "the word it predicts); leave it off.")
        if config["weight_dropout"] and config["cell"] in (*KERAS_BUILTIN_CELLS, *ENCODER_NAMES):
            raise ValueError(f"--weight-dropout {config['weight_dropout']} is an option of the zoo's own cells; "
                             f"--cell {config['cell']} has none: set --weight-dropout 0.")
        return super().resolve(config, data)

    # -- data

    def build_inputs(self, config):
        texts = read_texts(config)
        if texts.note:
            print(texts.note)
        windows, words = {}, {}
        for split in ("train", "validation", "test"):
            windows[split], words[split] = word_windows(getattr(texts, split), config["window_length"], split)
        vocabulary = fit_vocabulary(windows["train"], config["vocabulary_size"])
        batch = config["batch_size"]
        sizes = [len(texts.train), len(texts.validation), len(texts.test)]
        return Data(
            train=_dataset(windows["train"], batch, shuffle_seed=config["seed"]),
            validation=_dataset(windows["validation"], batch),
            test=_dataset(windows["test"], batch),
            description=(f"language_model data: {texts.source}, {sizes[0]} train / {sizes[1]} validation / "
                         f"{sizes[2]} test texts; {words['train']:,} train words in {len(windows['train']):,} "
                         f"windows; vocabulary {len(vocabulary):,}"),
            info={"source": texts.source, "sizes": sizes, "words": words, "vocabulary_size": len(vocabulary)},
            settings={"data": texts.source},
            reference={"vocabulary": vocabulary, "windows": windows},
        )

    # -- model

    def build_model(self, config, data=None, parent=None):
        """With `parent` (an exported language model to continue from), its vocabulary."""
        vocabulary = data.reference["vocabulary"] if data else (parent.vocabularies()[0] if parent else None)
        text = keras.Input(shape=(), dtype="string", name="text")
        vectorizer = keras.layers.TextVectorization(
            max_tokens=config["vocabulary_size"], standardize=standardize_text, vocabulary=vocabulary,
            name="vectorizer",
        )
        if vocabulary is None:  # zoo.create_model without data: a placeholder, fitted before training
            vectorizer.adapt(tf.constant(["unfitted"]))
        size = vectorizer.vocabulary_size() if vocabulary is not None else config["vocabulary_size"]
        ids = vectorizer(text)
        inputs, targets = ids[:, :-1], ids[:, 1:]
        embedding = TiedEmbedding(
            size, config["embedding_dim"], mask_zero=True, word_dropout=config["word_dropout"],
            num_sampled=config["num_sampled"] if config["num_sampled"] < size else 0, seed=config["seed"],
            name="embedding",
        )
        hidden = keras.layers.SpatialDropout1D(config["input_dropout"], name="input_dropout")(embedding(inputs))
        options = {"weight_dropout": config["weight_dropout"]} if config["weight_dropout"] else {}
        hidden = configured_stack(hidden, config, return_sequences=True, dropout=config["dropout"], **options)
        hidden = keras.layers.SpatialDropout1D(config["dropout"], name="output_dropout")(hidden)
        if config["units"] != config["embedding_dim"]:
            hidden = keras.layers.Dense(config["embedding_dim"], name="projection")(hidden)
        nll = embedding(hidden, reverse=True, targets=targets)
        return keras.Model(text, nll, name=f"language_model_{config['cell']}")

    def build_losses(self, config):
        return None  # the model adds its own: the mean negative log-likelihood (TiedEmbedding)

    # -- evaluation

    def evaluate(self, model, data, config):
        test_nll, test_words, unknown = _total_nll(model, data.test)
        validation_nll, validation_words, _ = _total_nll(model, data.validation)
        return {
            "test_perplexity": perplexity(test_nll, test_words),
            "test_cross_entropy": test_nll / max(test_words, 1),  # nats per word
            "validation_perplexity": perplexity(validation_nll, validation_words),
            "test_words": test_words,
            "test_unknown_share": unknown / max(test_words, 1),
        }

    def baseline(self, method, config, data):
        if method != "kneser_ney":
            return super().baseline(method, config, data)
        model = KneserNey(config["kneser_ney_order"], len(data.reference["vocabulary"]))
        vectorize = _vectorizer(data.reference["vocabulary"])
        train = vectorize(data.reference["windows"]["train"])  # in order; each window's first word ends the last
        stream = np.concatenate([train[0], train[1:, 1:].ravel()])
        model.fit(stream[stream > 0])
        log_probabilities = model.log_probabilities(vectorize(data.reference["windows"]["test"]))
        return perplexity(-log_probabilities.sum(), len(log_probabilities)), model.stored_ngrams, {}

    def figure(self, model, data, config):
        """Its likeliest next words after three prompts."""
        return next_words_figure(WordPredictor(model), f"{data.info['source']}: {self.name}-{config['cell']}")

    def card_facts(self, recipe, config, data, metrics, model, version_dir, data_path):
        return card.card_facts(self, recipe, config, data, metrics)

    # -- export

    def serving_signatures(self, model, data, config):
        return WordPredictor(model).signatures(config["top_k"])

    def serving_examples(self, data, config):
        texts = next(iter(data.test.unbatch().batch(3)))
        return {"text": texts.numpy()}

    # -- on-device (zoo.edge)

    def edge_unavailable(self, config):
        if config["cell"] in ENCODER_NAMES:
            return f"--cell {config['cell']} has no streaming step (only the recurrent cells carry a state)."
        if config["cell"] in KERAS_BUILTIN_CELLS:
            return f"--cell {config['cell']}: Keras's own layers have no on-device form here; take a zoo cell."
        return None

    def edge_signatures(self, model, config):
        predictor = WordPredictor(model)
        return {"step": (predictor.edge_step, [tf.TensorSpec([1], tf.int32, name="token"),
                                               tf.TensorSpec([1, predictor.state_size], tf.float32, name="state")])}

    def edge_examples(self, model, config, warmup):
        """The words of the first warm-up text, stepped one at a time from the zero state."""
        predictor = WordPredictor(model)
        ids = predictor.ids(tf.constant(warmup["text"][:1])).numpy()[0]
        state, examples = predictor.initial_state(1), []
        for token in ids[ids > 0][:8]:
            token = np.array([token], "int32")
            examples.append({"token": token, "state": state.numpy()})
            state = predictor.edge_step(tf.constant(token), state)["next_state"]
        return {"step": examples}

    def edge_assets(self, model, config):
        return {"vocabulary.txt": "\n".join(model.get_layer("vectorizer").get_vocabulary()) + "\n"}

    def edge_about(self, config):
        return ("`step`: `token` int32[1] (a word's line number in vocabulary.txt, 0-based; 1 for a word not "
                "listed; words as the sentiment task makes them: lower-cased, ASCII punctuation removed, split on "
                "whitespace) and `state` (zeros before the first word; feed `xxbos`, the word before every text, "
                "first) in; `logits` float32[1, vocabulary] of the next word and `next_state` out.")


def fit_vocabulary(windows, max_tokens):
    """The vocabulary (padding, [UNK], then words by falling frequency) of the training windows."""
    vectorizer = keras.layers.TextVectorization(max_tokens=max_tokens, standardize=standardize_text)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(windows).batch(VECTORIZE_BATCH))
    return vectorizer.get_vocabulary()


def _vectorizer(vocabulary):
    layer = keras.layers.TextVectorization(standardize=standardize_text, vocabulary=vocabulary)

    def vectorize(windows):
        rows = [layer(tf.constant(windows[start:start + VECTORIZE_BATCH])).numpy()
                for start in range(0, len(windows), VECTORIZE_BATCH)]
        width = max(row.shape[1] for row in rows)
        return np.concatenate([np.pad(row, ((0, 0), (0, width - row.shape[1]))) for row in rows])

    return vectorize


def _total_nll(model, dataset):
    """(summed negative log-likelihood, words predicted, of which unknown) of the dataset's windows."""
    vectorizer = model.get_layer("vectorizer")
    total, words, unknown = 0.0, 0, 0
    for windows in dataset:
        total += float(tf.reduce_sum(model(windows, training=False)))
        targets = vectorizer(windows)[:, 1:]
        words += int(tf.reduce_sum(tf.cast(targets > 0, tf.int32)))
        unknown += int(tf.reduce_sum(tf.cast(targets == 1, tf.int32)))
    return total, words, unknown


def _dataset(windows, batch_size, shuffle_seed=None):
    dataset = tf.data.Dataset.from_tensor_slices(windows)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(windows), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
