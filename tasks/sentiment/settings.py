"""The sentiment task's hyperparameter table (`zoo.hyperparameters`): plain data, importable without
TensorFlow, so train.py checks its flags before TensorFlow is imported (`zoo.task.hyperparameter_table`)."""

from zoo.hyperparameters import Hyperparameter, fine_tuning, non_negative, rate, share, shared

NGRAMS_ON_TEXT = 3  # the n-gram branch's default on real text

HYPERPARAMETERS = shared(
    epochs=4, batch_size=64, learning_rate=2e-3, units=64, num_layers=1, bidirectional=True,
    dropout=0.4, patience=2,
) + fine_tuning() + [
    Hyperparameter("text_column", "text", str, "text column of --data csv files"),
    Hyperparameter("label_column", "label", str, "label column of --data csv files"),
    Hyperparameter("synthetic_train_size", 8000, int, "texts in the synthetic corpus's train split"),
    Hyperparameter("synthetic_test_size", 2000, int, "texts in the synthetic corpus's test split"),
    Hyperparameter("validation_fraction", 0.1, float, "share of train held out for validation", check=share),
    Hyperparameter("vocabulary_size", 30000, int, "tokens kept, most frequent in train"),
    Hyperparameter("sequence_length", 400, int, "tokens per text; longer texts are cut"),
    Hyperparameter("embedding_dim", 128, int, "word embedding size"),
    Hyperparameter("embedding_dropout", 0.25, float, "dropout of whole embedding channels", check=rate),
    Hyperparameter(
        "ngrams", None, int, "add a bag-of-1..N-grams branch mixed with the recurrent one (0: none)",
        auto=f"{NGRAMS_ON_TEXT} on imdb and csv data, 0 on synthetic", check=non_negative,
    ),
    Hyperparameter("ngram_vocabulary_size", 800000, int, "n-grams kept, most frequent in train"),
    Hyperparameter("ngram_l2", 7e-5, float, "L2 penalty of the n-gram branch's weights",
                   check=non_negative),
]
