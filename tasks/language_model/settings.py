"""The language-model task's hyperparameter table (`zoo.hyperparameters`): plain data, importable without
TensorFlow, so train.py checks its flags before TensorFlow is imported (`zoo.task.hyperparameter_table`)."""

from zoo.hyperparameters import Hyperparameter, non_negative, rate, share, shared

HYPERPARAMETERS = shared(
    epochs=4, batch_size=64, learning_rate=3e-3, units=384, num_layers=1, bidirectional=False,
    dropout=0.25, patience=2, cell="lstm",
) + [
    Hyperparameter("text_column", "text", str, "text column of --data csv files"),
    Hyperparameter("synthetic_texts", 4000, int, "texts in the synthetic corpus"),
    Hyperparameter("validation_fraction", 0.01, float, "share of the texts held out for validation",
                   check=share),
    Hyperparameter("test_fraction", 0.01, float, "share held out for test (when there is no test file)",
                   check=share),
    Hyperparameter("vocabulary_size", 16000, int, "words kept, most frequent in train (with padding and "
                   "[UNK]); the embedding's rows"),
    Hyperparameter("window_length", 70, int, "words per training window (backpropagation through time)"),
    Hyperparameter("embedding_dim", 128, int, "word embedding size, shared with the output softmax"),
    Hyperparameter("num_sampled", 1024, int, "words the sampled softmax draws per training step (0, or "
                   "the vocabulary size or more: the exact softmax)", check=non_negative),
    Hyperparameter("word_dropout", 0.05, float, "embedding dropout: whole words dropped per batch",
                   check=rate),
    Hyperparameter("input_dropout", 0.25, float, "variational dropout of the embedded words", check=rate),
    Hyperparameter("weight_dropout", 0.2, float, "DropConnect on the recurrent kernel (zoo cells)",
                   check=rate),
    Hyperparameter("kneser_ney_order", 3, int, "n of the Kneser-Ney baseline"),
    Hyperparameter("top_k", 5, int, "next words the export's serving_default returns"),
]
