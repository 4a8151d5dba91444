"""Audio in: recordings to float waveforms at the rate a model wants.

`read_audio` decodes what people record, WAV (PCM of any width, float), FLAC, OGG (Vorbis, Opus) and
MP3, with libsndfile (`soundfile`), averages channels to mono and gives float32 samples in [-1, 1];
every error names the file. `resample` changes the sample rate with a polyphase filter
(`scipy.signal.resample_poly`: an anti-aliasing low-pass at the lower of the two Nyquist rates).

The speech task's front end (log-mel layers) builds on these: `tasks.ctc_speech.front_end`.
"""

import fractions
import pathlib
import re

import numpy as np
import soundfile
from scipy import signal

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3")  # what `read_audio` is known to read
# libsndfile's log of a WAV whose data chunk is shorter than its header says: "data : 4000 (should be 956)"
_SHORT_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def read_audio(source, name=None):
    """(mono float32 samples in [-1, 1], sample rate) of an audio file.

    `source` is a path or a binary file object; `name` (default: the path) is what errors call the
    file. Raises ValueError for a file it cannot decode and a truncated WAV file. A file that holds no
    samples is read as none (a model hears nothing in it and says nothing).
    """
    name = str(name or source)
    source = str(source) if isinstance(source, pathlib.PurePath) else source
    try:
        with soundfile.SoundFile(source) as reader:
            samples = reader.read(dtype="float32", always_2d=True)
            rate, log = reader.samplerate, reader.extra_info
    except soundfile.LibsndfileError as error:
        raise ValueError(
            f"{name}: not an audio file we can read ({error.error_string}); give WAV, FLAC, OGG/Opus or MP3, "
            "or convert it, e.g. `ffmpeg -i in.m4a -ac 1 out.wav`."
        ) from error
    except OSError as error:
        raise ValueError(f"{name}: cannot read ({error}).") from error
    short = _SHORT_DATA.search(log)
    if short and len(samples):
        announced = int(short.group(1)) * len(samples) // int(short.group(2))
        raise ValueError(
            f"{name}: truncated WAV file: the header announces {announced} frames, the file holds {len(samples)}."
        )
    return samples.mean(axis=1), rate


def resample(samples, rate, target_rate):
    """`samples` at `rate` Hz resampled to `target_rate` Hz (polyphase; the rate ratio as a fraction
    of denominator at most 1000, so a non-integer rate, e.g. a voice sped up by 7%, works too)."""
    if rate == target_rate:
        return samples
    ratio = fractions.Fraction(target_rate / rate).limit_denominator(1000)
    return signal.resample_poly(np.asarray(samples, "float64"), ratio.numerator, ratio.denominator).astype("float32")


def load_audio(source, sample_rate, name=None):
    """(mono samples at `sample_rate`, the file's own rate); see `read_audio`."""
    samples, rate = read_audio(source, name)
    return resample(samples, rate, sample_rate), rate


load_wav = load_audio  # its former name (it read WAV only), which the shipped speech cards use
