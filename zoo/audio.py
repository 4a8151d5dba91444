"""Audio in: WAV files to float waveforms at the rate a model wants.

`read_wav` reads PCM WAV files of any sample width (8-bit unsigned, 16/24/32-bit
signed) and channel count with Python's `wave` module, averages channels to mono and
scales to [-1, 1]; every error names the file. `resample` changes the sample rate
by band-limited (FFT) interpolation.

The speech task's front end (log-mel layers) builds on these: `tasks.ctc_speech.front_end`.
"""

import pathlib
import wave

import numpy as np

# ---------------------------------------------------------------- WAV files


def read_wav(source, name=None):
    """(mono float32 samples in [-1, 1], sample rate) of a PCM WAV file.

    `source` is a path or a binary file object; `name` (default: the path) is what
    errors call the file. Raises ValueError for anything that is not a complete PCM
    WAV file.
    """
    name = str(name or source)
    try:
        with wave.open(str(source) if isinstance(source, pathlib.PurePath) else source, "rb") as reader:
            channels, width = reader.getnchannels(), reader.getsampwidth()
            rate, count = reader.getframerate(), reader.getnframes()
            raw = reader.readframes(count)
    except wave.Error as error:
        raise ValueError(
            f"{name}: not a PCM WAV file we can read ({error}); convert it to 16-bit PCM WAV, "
            "e.g. `sox in.wav -b 16 -e signed-integer out.wav`."
        ) from error
    except EOFError as error:
        raise ValueError(f"{name}: truncated WAV file (the header ends early).") from error
    except OSError as error:
        raise ValueError(f"{name}: cannot read ({error}).") from error
    frame_bytes = channels * width
    if len(raw) < count * frame_bytes:
        raise ValueError(
            f"{name}: truncated WAV file: the header announces {count} frames, "
            f"the file holds {len(raw) // frame_bytes}."
        )
    if count == 0:
        raise ValueError(f"{name}: the WAV file holds no samples.")
    samples = _pcm_to_float(raw, width, name).reshape(count, channels)
    return samples.mean(axis=1).astype("float32"), rate


def _pcm_to_float(raw, width, name):
    if width == 1:  # 8-bit WAV is unsigned, centred on 128
        return (np.frombuffer(raw, np.uint8).astype("float32") - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, "<i2").astype("float32") / 32768.0
    if width == 3:  # little-endian 24-bit: shift into the top of an int32
        triples = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        values = (triples[:, 0] << 8) | (triples[:, 1] << 16) | (triples[:, 2] << 24)
        return values.astype("float32") / 2.0**31
    if width == 4:
        return (np.frombuffer(raw, "<i4").astype("float64") / 2.0**31).astype("float32")
    raise ValueError(f"{name}: {8 * width}-bit samples; expected 8, 16, 24 or 32-bit PCM.")


def resample(samples, rate, target_rate):
    """`samples` at `rate` Hz resampled to `target_rate` Hz (band-limited, via the FFT)."""
    if rate == target_rate:
        return samples
    count = max(1, int(round(len(samples) * target_rate / rate)))
    spectrum = np.fft.rfft(samples.astype("float64"))
    bins = count // 2 + 1
    spectrum = spectrum[:bins] if len(spectrum) >= bins else np.pad(spectrum, (0, bins - len(spectrum)))
    return (np.fft.irfft(spectrum, count) * (count / len(samples))).astype("float32")


def load_wav(source, sample_rate, name=None):
    """(mono samples at `sample_rate`, the file's own rate); see `read_wav`."""
    samples, rate = read_wav(source, name)
    return resample(samples, rate, sample_rate), rate
