"""Sentiment classification: raw text in, class probabilities out (`task.SentimentTask`).

Modules: `settings` (the hyperparameter table, without TensorFlow), `task` (the task: data, model,
losses, evaluation, export), `data` (IMDB and labelled CSV files), `synthetic` (the offline corpus),
`layers` (text standardisation, the probability mixture), `ngrams` (the NB-weighted n-gram branch),
`figures` (ROC and calibration).
"""

from tasks.sentiment.settings import HYPERPARAMETERS


def __getattr__(name):
    # The task class, and TensorFlow with it, only when asked for (PEP 562): `HYPERPARAMETERS` alone
    # is what train.py checks flags against (`zoo.task.hyperparameter_table`).
    if name == "SentimentTask":
        from tasks.sentiment.task import SentimentTask

        return SentimentTask
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SentimentTask", "HYPERPARAMETERS"]
