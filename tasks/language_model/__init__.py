"""Language modelling: raw text in, next-word probabilities out (`task.LanguageModelTask`); the encoder
the text classifiers fine-tune from.

Modules: `settings` (the hyperparameter table, without TensorFlow), `task` (the task: data, model,
evaluation, export), `corpus` (which texts, held-out splits, word windows), `inference` (next words,
scores and the streaming step of a trained model), `kneser_ney` (the count-based baseline).
"""

from tasks.language_model.settings import HYPERPARAMETERS


def __getattr__(name):
    # The task class, and TensorFlow with it, only when asked for (PEP 562): `HYPERPARAMETERS` alone
    # is what train.py checks flags against (`zoo.task.hyperparameter_table`).
    if name == "LanguageModelTask":
        from tasks.language_model.task import LanguageModelTask

        return LanguageModelTask
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LanguageModelTask", "HYPERPARAMETERS"]
