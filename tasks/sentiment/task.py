"""Sentiment classification: raw text in, class probabilities out.

Data (`--data`):
  imdb       IMDB reviews, official 25k/25k split: `--data-dir` holding
             train/test CSV (`text,label`) or the original aclImdb folders, or
             TFDS `imdb_reviews` when it is prepared locally.
  csv        `--data-dir` holding train and test CSV/TSV files (optionally
             gzipped) with a text and a label column; two or more classes.
  synthetic  an offline corpus from a seed where the label depends on word order
             (negation scope, contrast, cues far from the end).
Default: IMDB if `--data-dir` has it or TFDS has it prepared, else synthetic.

Model: TextVectorization (fitted on train only, inside the model) → masked
embedding → (bi)GRU/LSTM stack → mean+max pooling over words → softmax.
With `--ngrams N` (default 3 on real text, imdb and csv; 0 on the synthetic corpus,
which is built so that bags of words fail) a second branch reads the same text as
a bag of 1..N-grams (`tasks.sentiment.ngrams`: NB-weighted logistic regression). Each branch is
trained on its own loss, and the output `probabilities` is their mixture
`w p_recurrent + (1 − w) p_ngrams`, with `w` fitted on the validation split.
The model's outputs are then `{"probabilities", "recurrent", "ngrams"}`.
"""

import random

import keras
import numpy as np
import tensorflow as tf
from sklearn import metrics as sk_metrics

from tasks.sentiment import card
from tasks.sentiment.baselines import tfidf_accuracy
from tasks.sentiment.data import (
    IMDB_CLASSES,
    imdb_is_available,
    load_imdb,
    load_labelled_csv,
)
from tasks.sentiment.figures import roc_calibration_figure
from tasks.sentiment.layers import ProbabilityMixture, standardize_text
from tasks.sentiment.ngrams import NaiveBayesLogits, log_count_ratios
from tasks.sentiment.settings import HYPERPARAMETERS, NGRAMS_ON_TEXT
from tasks.sentiment.synthetic import synthetic_corpus
from zoo.builders import MaskedMeanMaxPooling, configured_stack
from zoo.task import Data, Metric, Task, register_task

# ---------------------------------------------------------------------- task


@register_task
class SentimentTask(Task):
    name = "sentiment"
    metric = Metric("test_accuracy", higher_is_better=True, target=("val_accuracy", 0.8))
    tiny = dict(data="synthetic", synthetic_train_size=40, synthetic_test_size=8, vocabulary_size=50,
                sequence_length=12, embedding_dim=4, units=4, batch_size=8, ngrams=2)
    # Cells are compared on the recurrent model itself: with the n-gram branch on (the default on
    # real text) the mixture can leave the recurrent one out.
    comparison = {"ngrams": 0}
    baseline_methods = ("tfidf_logreg",)
    encoder_from = ("language_model",)  # `--init-from` a language model: its words, embedding and recurrent layers
    hyperparameters = HYPERPARAMETERS

    def resolve(self, config, data=None):
        """Fills `data` (the source read) and `ngrams` (none on the synthetic corpus, whose
        label is in word order only; the real-text default without data): as the data decided
        them, else from the config."""
        if data:
            return {**config, **data.settings}
        return {**config, "ngrams": ngram_order(config["ngrams"], config["data"])}

    # -- data

    def build_inputs(self, config):
        source = config["data"]
        if source is None:
            source = "imdb" if imdb_is_available(config["data_dir"]) else "synthetic"
            if source == "synthetic":
                print(
                    "sentiment: IMDB not found offline, using the synthetic corpus "
                    "(for IMDB: --data imdb --data-dir DIR with train/test CSV or aclImdb/, "
                    "or prepare TFDS imdb_reviews)."
                )
        if source == "imdb":
            (train, test), classes = load_imdb(config["data_dir"]), IMDB_CLASSES
        elif source == "csv":
            train, test, classes = load_labelled_csv(
                config["data_dir"], config["text_column"], config["label_column"]
            )
        elif source == "synthetic":
            train, test = synthetic_corpus(
                config["synthetic_train_size"], config["synthetic_test_size"], config["seed"]
            )
            classes = IMDB_CLASSES
        else:
            raise ValueError(f"--data {source!r}: choose imdb, csv or synthetic.")

        shuffled = list(train)
        random.Random(config["seed"]).shuffle(shuffled)
        num_validation = max(1, int(len(shuffled) * config["validation_fraction"]))
        validation, train = shuffled[:num_validation], shuffled[num_validation:]
        missing = sorted(set(range(len(classes))) - {label for _, label in train})
        if missing:
            raise ValueError(
                f"sentiment data {source}: after holding out {num_validation} texts for validation, "
                f"no training text has class {[classes[k] for k in missing]}; give more texts of it."
            )
        batch = config["batch_size"]
        settings = {"data": source, "ngrams": ngram_order(config["ngrams"], source)}
        outputs = _labelled_outputs(settings["ngrams"])
        return Data(
            train=_dataset(train, batch, outputs, shuffle_seed=config["seed"]),
            validation=_dataset(validation, batch, outputs),
            test=_dataset(test, batch, outputs),
            description=(
                f"sentiment data: {source}, {len(train)} train / {len(validation)} validation "
                f"/ {len(test)} test texts, classes {classes}"
            ),
            info={"source": source, "classes": classes, "sizes": [len(train), len(validation), len(test)]},
            settings=settings,
        )

    # -- model

    def build_model(self, config, data=None, parent=None):
        """With `parent` (a SavedModel of this task to fine-tune, or a language model whose encoder it
        takes), the vectorizers take its vocabularies instead of fitting new ones (a language model's
        words for the recurrent branch); `zoo.training` then copies its weights."""
        classes = data.info["classes"] if data else IMDB_CLASSES
        vocabularies = [None, None]
        if parent is not None and parent.metadata.get("task") != self.name:
            vocabularies = [parent.vocabularies()[0], None]
        elif parent is not None:
            parent_classes = parent.metadata.get("data", {}).get("classes")
            if parent_classes != classes:
                raise ValueError(
                    f"--init-from {parent.name}: it classifies {parent_classes}, the data has {classes}; "
                    "fine-tuning keeps the classes (relabel the data, or train from scratch)."
                )
            vocabularies = parent.vocabularies() + [None]
        text = keras.Input(shape=(), dtype="string", name="text")
        texts = data.train.map(lambda text, label: text) if data else tf.constant(["unfitted"])
        probabilities = self._recurrent_branch(text, texts, config, data, len(classes), vocabularies[0])
        if not config["ngrams"]:
            return keras.Model(text, probabilities, name=f"sentiment_{config['cell']}")
        ngram_probabilities = self._ngram_branch(text, texts, config, data, len(classes), vocabularies[1])
        mixture = ProbabilityMixture(name="mixture", dtype="float32")([probabilities, ngram_probabilities])
        return keras.Model(
            text,
            {"probabilities": mixture, "recurrent": probabilities, "ngrams": ngram_probabilities},
            name=f"sentiment_{config['cell']}_ngrams",
        )

    def _recurrent_branch(self, text, texts, config, data, num_classes, vocabulary=None):
        # Without data (zoo.create_model): a placeholder vocabulary, to be adapted before training.
        vectorizer = keras.layers.TextVectorization(
            max_tokens=config["vocabulary_size"],
            output_sequence_length=config["sequence_length"],
            standardize=standardize_text,
            vocabulary=vocabulary,
            name="vectorizer",
        )
        if vocabulary is None:
            vectorizer.adapt(texts)
        tokens = vectorizer(text)  # (batch, sequence_length), 0 = padding
        hidden = keras.layers.Embedding(
            vectorizer.vocabulary_size() if data or vocabulary else config["vocabulary_size"],
            config["embedding_dim"],
            mask_zero=True,
            name="embedding",
        )(tokens)
        hidden = keras.layers.SpatialDropout1D(config["embedding_dropout"])(hidden)
        hidden = configured_stack(hidden, config, return_sequences=True)
        hidden = MaskedMeanMaxPooling(name="pooling")(hidden)
        hidden = keras.layers.Dropout(config["dropout"])(hidden)
        # float32 probabilities whatever the policy (a softmax in 16 bits under mixed precision,
        # zoo.distribute, would round them to 3 digits); so the n-gram branch below
        return keras.layers.Dense(num_classes, activation="softmax", name="classifier", dtype="float32")(hidden)

    def _ngram_branch(self, text, texts, config, data, num_classes, vocabulary=None):
        vectorizer = keras.layers.TextVectorization(
            max_tokens=config["ngram_vocabulary_size"],
            ngrams=config["ngrams"],
            output_mode="multi_hot",
            sparse=True,
            standardize=standardize_text,
            vocabulary=vocabulary,
            name="ngram_vectorizer",
        )
        if vocabulary is None:
            vectorizer.adapt(texts)
        logits = NaiveBayesLogits(num_classes, l2=config["ngram_l2"], name="ngram_logits", dtype="float32")
        probabilities = keras.layers.Softmax(name="ngram_classifier", dtype="float32")(logits(vectorizer(text)))
        if data and vocabulary is None:  # a parent's ratios come with its weights
            labelled = data.train.map(lambda text, label: (text, label["probabilities"]))
            logits.ratios.assign(log_count_ratios(vectorizer, labelled, num_classes))
        return probabilities

    def build_losses(self, config):
        if not config["ngrams"]:
            return keras.losses.SparseCategoricalCrossentropy()
        # Each branch learns on its own loss; the mixture has none (it is fitted after).
        return {branch: keras.losses.SparseCategoricalCrossentropy() for branch in ("recurrent", "ngrams")}

    def build_metrics(self, config):
        accuracy = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        return {"probabilities": accuracy} if config["ngrams"] else accuracy

    def monitor(self, config):
        # The branches' summed loss follows the recurrent one, which overfits first;
        # the mixture's accuracy is what the user gets.
        return ("val_probabilities_accuracy", "max") if config["ngrams"] else ("val_loss", "min")

    # -- on-device (zoo.edge)

    def edge_signatures(self, model, config):
        """`serving_default` on token ids, not text: string operations are not LiteRT builtins
        (the SavedModel's TextVectorization would need the Flex delegate, megabytes on a
        phone), so the client tokenises with the vocabularies shipped beside the files
        (`edge_assets`, the rule in `edge_about`) and the model does the rest."""
        recurrent = keras.Model(model.get_layer("embedding").input, model.get_layer("classifier").output)
        specs = [tf.TensorSpec([1, config["sequence_length"]], tf.int32, name="tokens")]
        if not config["ngrams"]:
            return {"serving_default": (lambda tokens: {"probabilities": recurrent(tokens)}, specs)}
        naive_bayes, mixture = model.get_layer("ngram_logits"), model.get_layer("mixture")

        def serve(tokens, ngram_ids):
            ngram_probabilities = tf.nn.softmax(naive_bayes.logits_of_ids(ngram_ids))
            return {"probabilities": mixture([recurrent(tokens), ngram_probabilities])}

        return {"serving_default": (serve, specs + [tf.TensorSpec([1, None], tf.int32, name="ngram_ids")])}

    def edge_examples(self, model, config, warmup):
        return {"serving_default": [edge_inputs(model, config, text) for text in warmup["text"]]}

    def edge_assets(self, model, config):
        assets = {"vocabulary.txt": "\n".join(model.get_layer("vectorizer").get_vocabulary()) + "\n"}
        if config["ngrams"]:
            assets["ngram_vocabulary.txt"] = "\n".join(model.get_layer("ngram_vectorizer").get_vocabulary()) + "\n"
        return assets

    def edge_about(self, config):
        ngrams = (f" `ngram_ids` int32[1, any]: the line numbers in ngram_vocabulary.txt of the distinct "
                  f"1- to {config['ngrams']}-grams of the whole text (words joined by one space), 0 for any "
                  "n-gram not listed, each id once (-1 pads)." if config["ngrams"] else "")
        return ("`serving_default` takes token ids, not text. Tokenising: replace line breaks by spaces, "
                "lower-case, remove ASCII punctuation, split on whitespace. `tokens` int32[1, "
                f"{config['sequence_length']}]: each word's line number in vocabulary.txt (1 for a word not "
                "listed), the first words of the text, 0-padded on the right." + ngrams +
                " Out: `probabilities` float32[1, classes].")

    # -- evaluation

    def calibrate(self, model, data, config):
        if config["ngrams"]:
            outputs, labels = _predict(model, data.validation)
            weight = model.get_layer("mixture").fit(outputs["recurrent"], outputs["ngrams"], labels)
            print(f"mixture: probabilities = {weight:.2f} recurrent + {1 - weight:.2f} n-grams "
                  "(fitted on the validation split)")

    def evaluate(self, model, data, config):
        outputs, labels = _predict(model, data.test)
        if not config["ngrams"]:
            return classification_metrics(labels, outputs)
        metrics = classification_metrics(labels, outputs["probabilities"])
        for branch in ("recurrent", "ngrams"):  # each branch alone, for the record
            metrics[f"test_accuracy_{branch}"] = float(np.mean(outputs[branch].argmax(-1) == labels))
        metrics["mixture_weight_recurrent"] = float(model.get_layer("mixture").weight.numpy())
        return metrics

    def baseline(self, method, config, data):
        """TF-IDF 1-2-grams + logistic regression (`baselines`), on the same splits."""
        if method != "tfidf_logreg":
            return super().baseline(method, config, data)
        accuracy, parameters = tfidf_accuracy(data)
        return accuracy, parameters, {}

    def card_facts(self, recipe, config, data, metrics, model, version_dir, data_path):
        return card.card_facts(recipe, config, data, metrics)

    def figure(self, model, data, config):
        """ROC and calibration of the test predictions."""
        outputs, labels = _predict(model, data.test)
        probabilities = outputs["probabilities"] if config["ngrams"] else outputs
        return roc_calibration_figure(
            labels, probabilities, data.info["classes"], f"{data.info['source']} test set: {self.name}-{config['cell']}"
        )

    # -- export

    def serving_signatures(self, model, data, config):
        class_names = tf.constant(data.info["classes"])

        def serve(text):
            # One empty text is appended and its row dropped: TF's n-gram counting
            # (RaggedCountSparseOutput) fails on an empty batch.
            outputs = model(tf.concat([text, [""]], axis=0), training=False)
            probabilities = (outputs["probabilities"] if isinstance(outputs, dict) else outputs)[:-1]
            class_id = tf.argmax(probabilities, axis=-1)
            return {
                "probabilities": probabilities,
                "class_id": class_id,
                "label": tf.gather(class_names, class_id),
            }

        return {"serving_default": (serve, [tf.TensorSpec([None], tf.string, name="text")])}

    def serving_examples(self, data, config):
        texts, _ = next(iter(data.test.unbatch().batch(3)))  # the first 3 test texts
        return {"text": texts.numpy()}  # (3,) bytes


def edge_inputs(model, config, text):
    """The on-device model's inputs for one text, made with the model's own vectorizers."""
    tokens = model.get_layer("vectorizer")(tf.constant([text])).numpy().astype("int32")
    if not config["ngrams"]:
        return {"tokens": tokens}
    ngrams = model.get_layer("ngram_vectorizer")(tf.constant([text]))
    ids = ngrams.indices[:, 1].numpy().astype("int32") if isinstance(ngrams, tf.SparseTensor) else \
        np.flatnonzero(ngrams.numpy()[0]).astype("int32")
    return {"tokens": tokens, "ngram_ids": (ids if len(ids) else np.array([-1], "int32"))[None, :]}


def _predict(model, dataset):
    """The model's outputs on `dataset` and its class ids."""
    labels = np.concatenate([
        y["probabilities"] if isinstance(y, dict) else y for _, y in dataset.as_numpy_iterator()
    ])
    return model.predict(dataset, verbose=0), labels


def classification_metrics(labels, probabilities):
    """Test accuracy, AUC (one-vs-rest macro for >2 classes; None when a class is absent from
    the test labels, where it is undefined) and F1 (macro for >2)."""
    predictions = probabilities.argmax(axis=-1)
    num_classes = probabilities.shape[-1]
    all_classes_present = len(set(labels)) == num_classes  # else AUC is undefined
    if num_classes == 2:
        auc = sk_metrics.roc_auc_score(labels, probabilities[:, 1]) if all_classes_present else None
        f1 = sk_metrics.f1_score(labels, predictions)
    else:
        auc = (
            sk_metrics.roc_auc_score(labels, probabilities, multi_class="ovr")
            if all_classes_present
            else None
        )
        f1 = sk_metrics.f1_score(labels, predictions, average="macro")
    return {
        "test_accuracy": float(sk_metrics.accuracy_score(labels, predictions)),
        "test_auc": None if auc is None else float(auc),
        "test_f1": float(f1),
        "test_examples": int(len(labels)),
    }


def ngram_order(ngrams, source):
    """The n-gram branch's longest n-gram: as set, else 0 on the synthetic corpus and
    NGRAMS_ON_TEXT on real text (or when no data is known yet)."""
    if ngrams is not None:
        return ngrams
    return 0 if source == "synthetic" else NGRAMS_ON_TEXT


def _labelled_outputs(ngrams):
    """The model outputs the labels go to: None for a single output."""
    return ("probabilities", "recurrent", "ngrams") if ngrams else None


def _dataset(examples, batch_size, outputs=None, shuffle_seed=None):
    texts = [text for text, _ in examples]
    labels = np.array([label for _, label in examples], dtype="int32")
    targets = {name: labels for name in outputs} if outputs else labels
    dataset = tf.data.Dataset.from_tensor_slices((texts, targets))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(texts), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

