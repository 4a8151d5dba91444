"""Connected spoken digits recognised with CTC: waveforms in, digit strings out (`task.CtcSpeechTask`).

Modules: `task` (the task), `data` (FSDD and transcribed WAV folders), `utterances` (speakers and
the composition of utterances), `tts` (eSpeak NG voices), `splits` (splits and batches),
`front_end` (log-mel, subsampling, SpecAugment layers), `ctc` (loss, metric, decoding, error
rates), `streaming` (chunk-by-chunk recognition, on the server and on device), `figures`.
"""

from tasks.ctc_speech.task import CtcSpeechTask

__all__ = ["CtcSpeechTask"]
