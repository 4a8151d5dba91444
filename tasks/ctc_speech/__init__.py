"""Connected spoken digits recognised with CTC: waveforms in, digit strings out (`task.CtcSpeechTask`).

Modules: `settings` (the hyperparameter table, without TensorFlow), `task` (the task), `data` (FSDD
and transcribed WAV folders), `utterances` (speakers and the composition of utterances), `tts`
(eSpeak NG voices), `splits` (splits and batches), `front_end` (log-mel, subsampling, SpecAugment
layers), `ctc` (loss, metric, decoding, error rates), `streaming` (chunk-by-chunk recognition, on
the server and on device), `figures`.
"""

from tasks.ctc_speech.settings import HYPERPARAMETERS


def __getattr__(name):
    # The task class, and TensorFlow with it, only when asked for (PEP 562): `HYPERPARAMETERS` alone
    # is what train.py checks flags against (`zoo.task.hyperparameter_table`).
    if name == "CtcSpeechTask":
        from tasks.ctc_speech.task import CtcSpeechTask

        return CtcSpeechTask
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CtcSpeechTask", "HYPERPARAMETERS"]
