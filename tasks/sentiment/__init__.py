"""Sentiment classification: raw text in, class probabilities out (`task.SentimentTask`).

Modules: `task` (the task: data, model, losses, evaluation, export), `data` (IMDB and
labelled CSV files), `synthetic` (the offline corpus), `layers` (text standardisation, the
probability mixture), `ngrams` (the NB-weighted n-gram branch), `figures` (ROC and calibration).
"""

from tasks.sentiment.task import SentimentTask

__all__ = ["SentimentTask"]
