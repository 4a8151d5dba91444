"""Connected spoken digits recognised with CTC: 8 kHz waveforms in, digit strings out.

Data (`--data`):
  fsdd       Free Spoken Digit Dataset: `--data-dir` holding `recordings.tar.gz`, a
             `recordings/` folder or the WAVs (`{digit}_{speaker}_{take}.wav`). Clips
             are composed into utterances of 1 to `--max-digits` digits of one speaker
             with random pauses, gains, level and background noise, anew each epoch.
             Takes 0-4 are test (the authors' split), takes 5-7 validation, 8-49
             train; with `--test-speakers a,b` every take of those speakers is test
             and they are left out of training and validation.
  wavs       `--data-dir` holding `train.csv` and `test.csv` (or .tsv, optionally
             gzipped) with columns `file` (a WAV path, relative to the folder) and
             `transcript` (symbols of `--alphabet`; spaces are ignored unless the
             alphabet has one). Other sample rates are resampled, stereo is averaged.
  synthetic  an offline generator of "spoken" digits from `--seed`: each digit is a
             sequence of 2-4 phones (formant vowels and nasals on a harmonic source,
             noise fricatives, stop bursts) said by a random voice (pitch, vocal tract
             length, speaking rate, tilt, breathiness), so durations overlap between
             digits and only the spectral sequence tells them apart.
Default: FSDD if `--data-dir` has it, else synthetic, with a notice.

Training utterances of fsdd and synthetic are perturbed (`--augment`): all clips of
an utterance resampled by one factor (a new speaker's tempo, pitch and formants) and
the utterance sent through a random equaliser (a new channel); 5% are noise alone.

Model: log-mel features in the graph with per-utterance normalisation (whole
utterance when bidirectional, causal running statistics when unidirectional; see
`zoo.audio`) → optional SpecAugment in training → strided convolution
(`--subsampling`, 1 = none) → (bi)GRU/LSTM stack → logits over the alphabet plus a
blank (last index).

Loss: CTC with true lengths on both sides. Labels are padded with -1, which is never
a symbol: the label lengths are the counts of labels ≥ 0. The logit lengths need no
second output: the last layer (`PadAsBlank`) sets the logits of padded frames to
"blank with probability 1" (`log p(blank) = 0`). A CTC path through the padded
frames then either emits blank there, at no cost, or has probability 0, so CTC over
the padded length equals CTC over the true length; the same holds for greedy and
beam-search decoding. The model stays one plain `keras.Model` with one output, and
`zoo.training` needs nothing CTC-specific.

Export: `serving_default` takes `waveform` (float32 `[batch, samples]`, 8 kHz, in
[-1, 1]) and `length` (int32 `[batch]`, samples per row) and returns `text`,
`logits` `[batch, frames, symbols + 1]` and `frame_lengths`. A unidirectional model
also has `step` (`audio` chunk `[batch, k · chunk]` and `state` `[batch, S]` → `text`
emitted in this chunk, `logits`, `state`) and `initial_state` (`batch_size` → zeros
`[batch, S]`); streaming a whole utterance chunk by chunk gives the logits of
`serving_default` on it.
"""

import argparse
import io
import itertools
import math
import pathlib
import re
import tarfile
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from zoo.audio import ConvSubsampling, LogMelSpectrogram, SpecAugment, load_wav
from zoo.builders import recurrent_stack
from zoo.data import find_table, read_table
from zoo.task import Data, Task

SAMPLE_RATE = 8000  # Hz: FSDD's rate and the exported model's input rate
DIGITS = "0123456789"
FRAME_STEP = 80  # samples: 10 ms hop at 8 kHz
FRAME_LENGTH = 200  # samples: 25 ms frames

# ----------------------------------------------------------------------- text


class Utterance(NamedTuple):
    waveform: np.ndarray  # float32 (samples,) at SAMPLE_RATE
    labels: np.ndarray  # int32 (symbols,), indices into the alphabet


def encode_text(text, alphabet, where):
    """Label indices of `text`; whitespace is dropped unless the alphabet has a space."""
    if " " not in alphabet:
        text = "".join(text.split())
    index = {symbol: i for i, symbol in enumerate(alphabet)}
    unknown = sorted({c for c in text if c not in index})
    if unknown:
        raise ValueError(
            f"{where}: transcript {text!r} has {''.join(unknown)!r}, not in the alphabet "
            f"{alphabet!r}; fix the transcript or set --alphabet."
        )
    return np.array([index[c] for c in text], dtype="int32")


def decode_labels(labels, alphabet):
    return "".join(alphabet[i] for i in labels if i >= 0)


def check_alphabet(alphabet):
    if not alphabet or len(set(alphabet)) != len(alphabet):
        raise ValueError(f"--alphabet {alphabet!r}: needs one or more distinct characters.")


# ----------------------------------------------------------------------- FSDD

FSDD_FILE = re.compile(r"(\d)_([A-Za-z]+)_(\d+)\.wav$")
FSDD_TEST_TAKES = range(0, 5)  # the dataset authors' test split
FSDD_VALIDATION_TAKES = range(5, 8)


class Clip(NamedTuple):
    digit: int
    speaker: str
    take: int
    samples: np.ndarray


def _fsdd_archives(data_dir):
    root = pathlib.Path(data_dir)
    return sorted(root.glob("*.tar.gz")) + sorted(root.glob("*.tgz"))


def _fsdd_wavs(data_dir):
    root = pathlib.Path(data_dir)
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    return sorted(p for p in folder.glob("*.wav") if FSDD_FILE.search(p.name))


def fsdd_is_available(data_dir):
    """True when `data_dir` holds FSDD WAVs or an archive of them (decides in milliseconds)."""
    if not data_dir or not pathlib.Path(data_dir).is_dir():
        return False
    archives = [p.name.lower() for p in _fsdd_archives(data_dir)]
    return bool(_fsdd_wavs(data_dir)) or any("recordings" in a or "fsdd" in a for a in archives)


def load_fsdd(data_dir, sample_rate=SAMPLE_RATE):
    """All FSDD clips under `data_dir` (WAV folder or tar.gz), at `sample_rate`."""
    if not data_dir:
        raise ValueError("--data fsdd needs --data-dir, a folder with recordings.tar.gz or recordings/*.wav.")
    clips, other_rates = [], []

    def add(name, source):
        match = FSDD_FILE.search(name)
        if not match:
            return
        samples, rate = load_wav(source, sample_rate, name=name)
        if rate != sample_rate:
            other_rates.append((name, rate))
        digit, speaker, take = match.groups()
        clips.append(Clip(int(digit), speaker, int(take), samples))

    wavs = _fsdd_wavs(data_dir)
    if wavs:
        for path in wavs:
            add(str(path), path)
    else:
        for archive in _fsdd_archives(data_dir):
            try:
                with tarfile.open(archive) as tar:
                    for member in tar:
                        if member.isfile() and member.name.endswith(".wav"):
                            add(f"{archive}:{member.name}", io.BytesIO(tar.extractfile(member).read()))
            except (tarfile.TarError, EOFError, OSError) as error:
                raise ValueError(f"{archive}: not a readable tar.gz archive ({error}).") from error
    if not clips:
        raise ValueError(
            f"{data_dir}: no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) in a recordings/ "
            "folder, the folder itself or a .tar.gz archive."
        )
    _say_resampled(other_rates, sample_rate)
    return clips


def _say_resampled(other_rates, sample_rate):
    if other_rates:
        rates = sorted({rate for _, rate in other_rates})
        print(
            f"ctc_speech: resampled {len(other_rates)} WAV file(s) at {rates} Hz to {sample_rate} Hz "
            f"(first: {other_rates[0][0]})."
        )


def split_fsdd(clips, test_speakers=None):
    """(train, validation, test) clips: takes 8-49, 5-7 and 0-4 of every speaker, or
    with `test_speakers`, takes 8-49 and 5-7 of the others and every take of those."""
    speakers = sorted({clip.speaker for clip in clips})
    held_out = set(test_speakers or [])
    unknown = held_out - set(speakers)
    if unknown:
        raise ValueError(
            f"--test-speakers {sorted(unknown)}: not in the data; its speakers are {speakers}."
        )
    if held_out and held_out == set(speakers):
        raise ValueError(
            f"--test-speakers holds out every speaker {speakers}; leave one or more for training."
        )
    test = [c for c in clips if (c.speaker in held_out if held_out else c.take in FSDD_TEST_TAKES)]
    pool = [c for c in clips if c.take not in FSDD_TEST_TAKES and c.speaker not in held_out]
    validation = [c for c in pool if c.take in FSDD_VALIDATION_TAKES]
    train = [c for c in pool if c.take not in FSDD_VALIDATION_TAKES]
    for name, split in (("train", train), ("validation", validation), ("test", test)):
        if not split:
            raise ValueError(f"FSDD split {name} is empty (takes 0-4 test, 5-7 validation, 8-49 train).")
    return train, validation, test


class RecordedSpeakers:
    """Says digit sequences with recorded clips, one speaker per utterance."""

    def __init__(self, clips):
        self.clips = {}
        for clip in clips:
            self.clips.setdefault(clip.speaker, {}).setdefault(clip.digit, []).append(clip.samples)
        self.speakers = sorted(self.clips)

    def speak(self, digits, rng):
        by_digit = self.clips[self.speakers[rng.integers(len(self.speakers))]]
        return [by_digit[d][rng.integers(len(by_digit[d]))] for d in digits]

    def digits(self):
        return sorted(set.intersection(*(set(d) for d in self.clips.values())))


# ------------------------------------------------------------------ synthetic

# Phones: vowels and nasals are formant patterns (F1, F2, F3 in Hz, for a vocal
# tract scale of 1) on a harmonic source; fricatives are noise in a band (Hz);
# stops are a closure followed by a short noise burst in a band.
VOWELS = {
    "i": (280, 2250, 2900), "e": (450, 1950, 2600), "a": (750, 1250, 2500),
    "o": (500, 850, 2450), "u": (320, 800, 2250), "er": (480, 1350, 1700),
    "n": (250, 1700, 2600),
}
NASALS = {"n"}
FRICATIVES = {"s": (3000, 3900), "sh": (1800, 3000), "f": (900, 3900)}
STOPS = {"t": (2500, 3900), "k": (1200, 2400)}
ENVELOPE_STEP = 16  # samples between updates of the harmonic amplitudes
PHONE_MS = {"vowel": 110, "nasal": 70, "fricative": 90, "stop": 60}  # mean durations
# Each digit's phones. Digits share phones (0/6/7 start with "s", 4/5 with "f",
# 5/9 share "a i"), so telling them apart needs the order and spectra of the
# phones, and durations overlap between digits, so counting frames cannot.
DIGIT_PHONES = [
    "s i er o", "u a n", "t u", "sh er i", "f o er",
    "f a i", "s i k s", "s e n", "e i t", "n a i n",
]


def _kind(phone):
    if phone in NASALS:
        return "nasal"
    if phone in VOWELS:
        return "vowel"
    return "fricative" if phone in FRICATIVES else "stop"


def random_voice(rng):
    """The traits of one synthetic speaker."""
    return {
        "pitch": rng.uniform(85, 230),  # Hz
        "tract": rng.uniform(0.85, 1.18),  # formant scale (vocal tract length)
        "rate": rng.uniform(0.75, 1.35),  # duration scale
        "tilt": rng.uniform(0.2, 1.0),  # spectral slope of the source, harmonic^-tilt
        "bandwidth": rng.uniform(60, 160),  # formant bandwidth, Hz
        "breath": rng.uniform(0.0, 0.25),  # noise mixed into voiced phones
    }


def _fft_size(count):
    """The power of two ≥ count: numpy's FFT is slow for sizes with large prime factors."""
    return 1 << max(0, int(count - 1).bit_length())


def _band_noise(count, low, high, rng, sample_rate):
    size = _fft_size(count)
    spectrum = np.fft.rfft(rng.standard_normal(size))
    frequencies = np.fft.rfftfreq(size, 1 / sample_rate)
    spectrum[(frequencies < low) | (frequencies > high)] = 0
    noise = np.fft.irfft(spectrum, size)[:count]
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-9)


def _smooth(values, width):
    kernel = np.hanning(width + 2)[1:-1]
    return np.convolve(values, kernel / kernel.sum(), mode="same")


def synthetic_digit(digit, voice, rng, sample_rate=SAMPLE_RATE):
    """One spoken digit as float32 samples (RMS 0.1) in `voice`, with random prosody."""
    phones = DIGIT_PHONES[digit].split()
    durations = [
        PHONE_MS[_kind(p)] / 1000 * voice["rate"] * rng.uniform(0.65, 1.45) for p in phones
    ]
    bounds = np.concatenate([[0], np.cumsum(np.round(np.array(durations) * sample_rate))])
    bounds = bounds.astype(int)  # phone i is samples bounds[i]:bounds[i + 1]
    count = bounds[-1]
    t = np.arange(count) / sample_rate

    # Source targets per sample: voicing and noise amplitudes, and a noise band per phone.
    voicing, noise = np.zeros(count), np.zeros(count)
    for phone, start, end in zip(phones, bounds[:-1], bounds[1:]):
        kind = _kind(phone)
        if kind in ("vowel", "nasal"):
            voicing[start:end] = 1.0 if kind == "vowel" else 0.35
            noise[start:end] += voice["breath"] * rng.uniform(0.0, 0.2)
        elif kind == "fricative":
            band = _band_noise(end - start, *FRICATIVES[phone], rng, sample_rate)
            noise[start:end] += band * rng.uniform(0.3, 0.6)
        else:  # closure, then a burst over the last 20 ms
            burst = min(end - start, int(0.02 * sample_rate))
            band = _band_noise(burst, *STOPS[phone], rng, sample_rate)
            noise[end - burst : end] += band * rng.uniform(0.6, 1.0)
    voicing = _smooth(voicing, int(0.02 * sample_rate))

    # Formant tracks: straight lines between the centres of the voiced phones.
    centres = [(s + e) / 2 for p, s, e in zip(phones, bounds[:-1], bounds[1:]) if p in VOWELS]
    targets = np.array([VOWELS[p] for p in phones if p in VOWELS], dtype=float)
    targets *= voice["tract"] * rng.uniform(0.93, 1.07, size=targets.shape)
    formants = np.stack([np.interp(np.arange(count), centres, targets[:, i]) for i in range(3)])
    # formants: (3, samples)

    # Harmonic source with a pitch contour; each harmonic weighted by the formant envelope.
    contour = voice["pitch"] * (1 + rng.uniform(-0.15, 0.15) * t / max(t[-1], 1e-3)) * (
        1 + 0.01 * rng.standard_normal(count).cumsum() / np.sqrt(count)
    )
    phase = 2 * np.pi * np.cumsum(contour) / sample_rate
    harmonics = np.arange(1, int(0.48 * sample_rate / voice["pitch"] * 0.9) + 1)[:, None]  # (K, 1)
    coarse = slice(None, None, ENVELOPE_STEP)  # the envelope changes slowly: every 2 ms
    frequency = harmonics * contour[None, coarse]  # (K, samples / step)
    envelope = sum(
        gain / (1 + ((frequency - formants[i, coarse]) / voice["bandwidth"]) ** 2)
        for i, gain in enumerate((1.0, 0.7, 0.35))
    )
    envelope *= harmonics ** -voice["tilt"] * (frequency < 0.48 * sample_rate)
    envelope = np.repeat(envelope, ENVELOPE_STEP, axis=1)[:, :count]  # (K, samples)
    voiced = np.sum(envelope * np.sin(harmonics * phase[None]), axis=0)
    voiced /= np.sqrt(np.mean(voiced**2)) + 1e-9

    samples = voiced * voicing + _smooth(noise, int(0.005 * sample_rate) or 1)
    samples *= np.minimum(1, np.minimum(t, t[-1] - t) / 0.01)  # 10 ms fade in/out
    return (0.1 * samples / (np.sqrt(np.mean(samples**2)) + 1e-9)).astype("float32")


class SyntheticSpeakers:
    """Says digit sequences with synthetic digits, one random voice per utterance."""

    def __init__(self, sample_rate=SAMPLE_RATE):
        self.sample_rate = sample_rate

    def speak(self, digits, rng):
        voice = random_voice(rng)
        return [synthetic_digit(d, voice, rng, self.sample_rate) for d in digits]

    def digits(self):
        return list(range(10))


# ---------------------------------------------------------------- composition

LEADING_PAUSE_S = (0.05, 0.5)
PAUSE_S = (0.0, 0.35)  # between digits; 0 joins them
CLIP_GAIN_DB = 6.0  # each digit louder or softer by up to this
LEVEL_DBFS = (-35.0, -12.0)  # RMS of the speech
SNR_DB = (12.0, 40.0)  # speech to background noise
# Training augmentation (`--augment`), for speakers the training set lacks:
SPEED = (0.85, 1.18)  # one resampling factor per utterance: tempo, pitch and formants
EQ_DB = 6.0  # a smooth random gain over frequency of up to ± this: the channel
NOISE_ONLY = 0.05  # the fraction of utterances that are background noise alone, transcript ""
NOISE_ONLY_S = (0.5, 8.0)  # and their durations


def coloured_noise(count, rng):
    """Unit-RMS noise with a random spectral slope, from white (0) to brown (f^-2 power)."""
    size = _fft_size(count)
    spectrum = np.fft.rfft(rng.standard_normal(size))
    frequencies = np.maximum(np.fft.rfftfreq(size), 1.0 / size)
    spectrum *= frequencies ** (-rng.uniform(0.0, 1.0))
    noise = np.fft.irfft(spectrum, size)[:count]
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def perturb_speaker(clips, rng):
    """The clips as a new speaker says them: all resampled by one random factor, which
    scales tempo, pitch and formants together (a shorter or longer vocal tract)."""
    factor = rng.uniform(*SPEED)
    return [
        np.interp(np.arange(0, len(clip) - 1, factor), np.arange(len(clip)), clip).astype("float32")
        for clip in clips
    ]


def random_equaliser(waveform, rng):
    """`waveform` through a smooth random filter: gain in dB a sum of three cosines over frequency."""
    size = _fft_size(len(waveform))
    spectrum = np.fft.rfft(waveform, size)
    position = np.linspace(0.0, np.pi, len(spectrum))
    gain_db = sum(
        rng.uniform(-1, 1) * np.cos(k * position + rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3)
    ) * (EQ_DB / 3)
    return np.fft.irfft(spectrum * 10 ** (gain_db / 20), size)[: len(waveform)]


def compose(clips, rng, sample_rate=SAMPLE_RATE, equalise=False):
    """One utterance from digit clips: random pauses and gains, optionally a random
    equaliser, then a random level and background noise."""
    pieces, speech = [np.zeros(int(rng.uniform(*LEADING_PAUSE_S) * sample_rate))], []
    for index, clip in enumerate(clips):
        if index:
            pieces.append(np.zeros(int(rng.uniform(*PAUSE_S) * sample_rate)))
        speech.append(clip * 10 ** (rng.uniform(-CLIP_GAIN_DB, CLIP_GAIN_DB) / 20))
        pieces.append(speech[-1])
    pieces.append(np.zeros(int(rng.uniform(*LEADING_PAUSE_S) * sample_rate)))
    waveform = np.concatenate(pieces)
    if equalise:
        waveform = random_equaliser(waveform, rng)
    speech_rms = np.sqrt(np.mean(np.concatenate(speech) ** 2)) + 1e-9
    level = 10 ** (rng.uniform(*LEVEL_DBFS) / 20)
    noise = coloured_noise(len(waveform), rng) * level * 10 ** (-rng.uniform(*SNR_DB) / 20)
    return np.clip(waveform * (level / speech_rms) + noise, -1.0, 1.0).astype("float32")


def random_utterance(speakers, rng, max_digits, augment=False):
    """An `Utterance` of 1 to `max_digits` random digits said by one of `speakers`.

    With `augment`: by a perturbed speaker through a random equaliser, or in a
    fraction `NOISE_ONLY` of utterances no digit at all, so that the model learns
    that noise, normalised per utterance to look as loud as speech, says nothing.
    """
    if augment and rng.random() < NOISE_ONLY:
        silence = np.zeros(int(rng.uniform(*NOISE_ONLY_S) * SAMPLE_RATE), "float32")
        return Utterance(compose([silence], rng, equalise=True), np.zeros(0, "int32"))
    choices = speakers.digits()
    digits = [choices[i] for i in rng.integers(len(choices), size=rng.integers(1, max_digits + 1))]
    clips = speakers.speak(digits, rng)
    if augment:
        clips = perturb_speaker(clips, rng)
    return Utterance(compose(clips, rng, equalise=augment), np.array(digits, dtype="int32"))


# ------------------------------------------------------------------ WAV folder


def min_frames(labels):
    """Frames CTC needs for `labels`: one per symbol plus a blank between repeats."""
    labels = np.asarray(labels)
    return len(labels) + int(np.sum(labels[1:] == labels[:-1]))


def output_frames(samples, subsampling):
    return -(-(samples // FRAME_STEP) // subsampling)


def load_transcribed_wavs(data_dir, alphabet, max_seconds, subsampling, sample_rate=SAMPLE_RATE):
    """(train, test) `Utterance` lists from `data_dir/{train,test}.csv` (`file,transcript`)."""
    if not data_dir:
        raise ValueError(
            "--data wavs needs --data-dir, a folder with train.csv and test.csv (file,transcript)."
        )
    data_dir = pathlib.Path(data_dir)
    splits, other_rates = [], []
    for split in ("train", "test"):
        table = find_table(data_dir, split)
        utterances = []
        for row_number, row in enumerate(read_table(table, ["file", "transcript"]), start=2):
            path = data_dir / row["file"].strip()
            if not path.is_file():
                raise ValueError(f"{table}, row {row_number}: no WAV file {path}.")
            samples, rate = load_wav(path, sample_rate)
            if rate != sample_rate:
                other_rates.append((str(path), rate))
            seconds = len(samples) / sample_rate
            if seconds > max_seconds:
                raise ValueError(
                    f"{path}: {seconds:.1f} s of audio, longer than --max-seconds {max_seconds:g}; "
                    "cut it into shorter utterances or raise --max-seconds."
                )
            labels = encode_text(row["transcript"], alphabet, f"{table}, row {row_number}")
            frames = output_frames(len(samples), subsampling)
            if min_frames(labels) > frames:
                raise ValueError(
                    f"{path}: {seconds:.2f} s gives {frames} output frames, "
                    f"too few for the {len(labels)} symbols of its transcript "
                    f"(CTC needs {min_frames(labels)}); check the file and transcript or lower --subsampling."
                )
            utterances.append(Utterance(samples, labels))
        splits.append(utterances)
    _say_resampled(other_rates, sample_rate)
    return tuple(splits)


# ---------------------------------------------------------------- batching

WINDOW_BATCHES = 16  # batches of utterances sorted by length together, to cut padding


def _pad_batch(utterances):
    width = max(len(u.waveform) for u in utterances)
    label_width = max(1, *(len(u.labels) for u in utterances))
    waveform = np.zeros((len(utterances), width), "float32")
    labels = np.full((len(utterances), label_width), -1, "int32")  # -1: padding, never a symbol
    for row, utterance in enumerate(utterances):
        waveform[row, : len(utterance.waveform)] = utterance.waveform
        labels[row, : len(utterance.labels)] = utterance.labels
    lengths = np.array([len(u.waveform) for u in utterances], "int32")
    return {"waveform": waveform, "length": lengths}, labels


def utterance_dataset(utterances, count, batch_size, rng=None):
    """Batches of the `count` utterances `utterances()` yields, grouped by length.

    `utterances` is called once per pass (epoch), so a generator of fresh random
    compositions gives new data every epoch; with `rng` the batch order is shuffled.
    """

    def batches():
        stream = iter(utterances())
        while window := list(itertools.islice(stream, WINDOW_BATCHES * batch_size)):
            window.sort(key=lambda u: len(u.waveform))
            group = [window[i : i + batch_size] for i in range(0, len(window), batch_size)]
            if rng is not None:
                rng.shuffle(group)
            for batch in group:
                yield _pad_batch(batch)

    signature = (
        {
            "waveform": tf.TensorSpec([None, None], tf.float32),
            "length": tf.TensorSpec([None], tf.int32),
        },
        tf.TensorSpec([None, None], tf.int32),
    )
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(math.ceil(count / batch_size))).prefetch(2)


# ---------------------------------------------------------------- CTC pieces


@keras.saving.register_keras_serializable(package="zoo")
class PadAsBlank(keras.layers.Layer):
    """Logits with padded frames set to `log p(blank) = 0`; consumes the mask.

    `blank_logit − other logits = 1e4` makes the softmax exactly one-hot on blank in
    float32, so CTC and its decoders over the padded length see the true length.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.supports_jit = False  # tf.nn.ctc_loss has no XLA kernel

    def call(self, logits, mask=None):
        if mask is None:
            return logits
        classes = tf.shape(logits)[-1]
        blank = tf.concat([tf.fill([classes - 1], -1e4), [0.0]], axis=0)  # (classes,)
        return tf.where(mask[..., None], logits, tf.cast(blank, logits.dtype))

    def compute_mask(self, inputs, previous_mask=None):
        return None


def _sparse_labels(labels):
    """SparseTensor of the labels ≥ 0 (padding is -1; 0 is a symbol)."""
    labels = tf.cast(labels, tf.int32)
    indices = tf.where(labels >= 0)
    return tf.SparseTensor(indices, tf.gather_nd(labels, indices), tf.shape(labels, out_type=tf.int64))


@keras.saving.register_keras_serializable(package="zoo")
class CTCLoss(keras.losses.Loss):
    """CTC negative log-likelihood per utterance; blank is the last class.

    `y_true`: labels `(batch, max symbols)` padded with -1; `y_pred`: logits
    `(batch, frames, classes)` from a model ending in `PadAsBlank`. An empty
    transcript has one path, all blanks, costing `−Σ_t log p_t(blank)`; TF's CTC
    kernel rejects empty labels, so it gets a one-symbol stand-in whose loss is
    replaced by that cost.
    """

    def __init__(self, name="ctc", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels = tf.pad(tf.cast(y_true, tf.int32), [[0, 0], [0, 1]], constant_values=-1)
        empty = labels[:, 0] < 0  # (batch,)
        stand_in = tf.where(empty, 0, labels[:, 0])
        labels = tf.concat([stand_in[:, None], labels[:, 1:]], axis=1)
        frames = tf.fill([tf.shape(y_pred)[0]], tf.shape(y_pred)[1])
        loss = tf.nn.ctc_loss(
            _sparse_labels(labels), y_pred, label_length=None, logit_length=frames,
            logits_time_major=False, blank_index=-1,
        )
        all_blank = -tf.reduce_sum(tf.nn.log_softmax(y_pred)[..., -1], axis=1)
        return tf.where(empty, all_blank, loss)


@keras.saving.register_keras_serializable(package="zoo")
class GreedyErrorRate(keras.metrics.Metric):
    """Symbol error rate of greedy CTC decoding: Σ edit distance / Σ reference length."""

    def __init__(self, name="cer", **kwargs):
        super().__init__(name=name, **kwargs)
        self.errors = self.add_variable(shape=(), initializer="zeros", name="errors")
        self.symbols = self.add_variable(shape=(), initializer="zeros", name="symbols")

    def update_state(self, y_true, y_pred, sample_weight=None):
        reference = _sparse_labels(y_true)
        frames = tf.fill([tf.shape(y_pred)[0]], tf.shape(y_pred)[1])
        (decoded,), _ = tf.nn.ctc_greedy_decoder(tf.transpose(y_pred, [1, 0, 2]), frames)
        errors = tf.edit_distance(tf.cast(decoded, tf.int32), reference, normalize=False)
        self.errors.assign_add(tf.reduce_sum(tf.cast(errors, "float32")))
        self.symbols.assign_add(tf.cast(tf.size(reference.values), "float32"))

    def result(self):
        return self.errors / tf.maximum(self.symbols, 1.0)


def ctc_decode(logits, frame_lengths, alphabet, beam_width=1):
    """Strings `[batch]` from logits `(batch, frames, len(alphabet) + 1)`, greedy or beam search."""
    time_major = tf.transpose(logits, [1, 0, 2])
    frame_lengths = tf.cast(frame_lengths, tf.int32)
    if beam_width > 1:
        (decoded,), _ = tf.nn.ctc_beam_search_decoder(time_major, frame_lengths, beam_width, top_paths=1)
    else:
        (decoded,), _ = tf.nn.ctc_greedy_decoder(time_major, frame_lengths)
    symbols = tf.RaggedTensor.from_sparse(decoded)
    return tf.strings.reduce_join(tf.gather(tf.constant(list(alphabet)), symbols), axis=-1)


def edit_distance(reference, hypothesis):
    """Levenshtein distance between two sequences."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def words(text, alphabet):
    """Words of a transcript: space-separated if the alphabet has a space, else each
    symbol (a spoken digit is a word, so for digit strings WER equals CER)."""
    return text.split() if " " in alphabet else list(text)


def error_rates(references, hypotheses, alphabet=DIGITS):
    """`cer`, `wer` (Σ edit distance / Σ reference length) and `exact_match`."""
    symbol_errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses))
    word_errors = sum(
        edit_distance(words(r, alphabet), words(h, alphabet)) for r, h in zip(references, hypotheses)
    )
    return {
        "cer": symbol_errors / max(1, sum(len(r) for r in references)),
        "wer": word_errors / max(1, sum(len(words(r, alphabet)) for r in references)),
        "exact_match": sum(r == h for r, h in zip(references, hypotheses)) / max(1, len(references)),
    }


# ---------------------------------------------------------------------- splits


def _wav_folder_splits(config, rng):
    """--data wavs: the train.csv rows less a validation fraction, shuffled each epoch; test.csv."""
    train, test = load_transcribed_wavs(
        config["data_dir"], config["alphabet"], config["max_seconds"], config["subsampling"]
    )
    train = [train[i] for i in rng.permutation(len(train))]
    cut = max(1, int(len(train) * config["validation_fraction"]))
    validation, train = train[:cut], train[cut:]
    if not train:
        raise ValueError(f"{config['data_dir']}: train.csv has too few rows to keep a validation split.")
    description = (
        f"ctc_speech data: WAV files from {config['data_dir']}, {len(train)} train / "
        f"{len(validation)} validation / {len(test)} test utterances"
    )

    def shuffled():
        return [train[i] for i in rng.permutation(len(train))]

    return shuffled, len(train), validation, test, description, {}


def _composed_splits(config, source, rng):
    """--data fsdd or synthetic: utterances composed from digit clips, training ones anew each epoch."""
    if source == "fsdd":
        held_out = [s.strip() for s in (config["test_speakers"] or "").split(",") if s.strip()]
        clips = split_fsdd(load_fsdd(config["data_dir"]), held_out)
        train_speakers, validation_speakers, test_speakers = (RecordedSpeakers(c) for c in clips)
        info = {
            "train_speakers": train_speakers.speakers,
            "test_speakers": test_speakers.speakers,
            "clips": [len(c) for c in clips],
        }
        takes = "8-49/5-7/all" if held_out else "8-49/5-7/0-4"
        what = (
            f"FSDD, {'/'.join(str(len(c)) for c in clips)} train/validation/test clips (takes {takes}), "
            f"train speakers {train_speakers.speakers}, test speakers {test_speakers.speakers}"
        )
    else:
        train_speakers = validation_speakers = test_speakers = SyntheticSpeakers()
        info, what = {}, "synthetic digits, a new random voice per utterance"
    max_digits, size = config["max_digits"], config["train_utterances"]
    # Validation and test sets are the same in every run with this seed.
    fixed = np.random.default_rng([config["seed"], 1]), np.random.default_rng([config["seed"], 2])
    validation = [
        random_utterance(validation_speakers, fixed[0], max_digits)
        for _ in range(config["validation_utterances"])
    ]
    test = [random_utterance(test_speakers, fixed[1], max_digits) for _ in range(config["test_utterances"])]

    def train():
        return (random_utterance(train_speakers, rng, max_digits, config["augment"]) for _ in range(size))

    description = (
        f"ctc_speech data: {what}; utterances of 1-{max_digits} digits, {size} train "
        f"(composed anew each epoch) / {len(validation)} validation / {len(test)} test"
    )
    return train, size, validation, test, description, info


# ---------------------------------------------------------------------- task


class CtcSpeechTask(Task):
    name = "ctc_speech"
    defaults = {
        "cell": "gru",
        "data": None,  # None: FSDD when --data-dir has it, else synthetic
        "data_dir": None,
        "test_speakers": None,  # comma-separated FSDD speakers held out of training
        "alphabet": DIGITS,
        "max_digits": 7,
        "train_utterances": 1600,  # composed anew each epoch (fsdd, synthetic)
        "validation_utterances": 640,
        "test_utterances": 500,
        "augment": True,  # perturbed speakers and random equalisers in composed training utterances
        "spec_augment": False,  # in training, mask random mel bands and frame spans
        "validation_fraction": 0.1,  # of train.csv, for --data wavs
        "max_seconds": 30.0,
        "num_mel_bins": 40,
        "normalization": None,  # None: "utterance" if bidirectional else "causal"
        "subsampling": 4,  # 40 ms per output frame
        "conv_filters": 128,
        "units": 128,
        "num_layers": 2,
        "bidirectional": True,
        "dropout": 0.1,
        "beam_width": 8,
        "epochs": 30,
        "batch_size": 32,
        "learning_rate": 2e-3,
        "seed": 0,
        # Fresh utterances every epoch leave little to overfit, and the validation loss
        # jumps from epoch to epoch: train every epoch, keep the best one's weights.
        "patience": 30,
    }

    def add_arguments(self, parser):
        group = parser.add_argument_group("ctc_speech")
        group.add_argument(
            "--test-speakers", help="FSDD speakers (comma-separated) to test on and hold out of training"
        )
        group.add_argument("--alphabet", help="transcript symbols for --data wavs (default 0123456789)")
        group.add_argument("--max-digits", type=int, help="digits per composed utterance: 1 to this")
        group.add_argument("--train-utterances", type=int, help="composed training utterances per epoch")
        group.add_argument("--validation-utterances", type=int, help="composed validation utterances")
        group.add_argument("--test-utterances", type=int, help="composed test utterances")
        group.add_argument(
            "--augment", action=argparse.BooleanOptionalAction, default=None,
            help="train on perturbed speakers (speed/formant scale) through random equalisers (default on)",
        )
        group.add_argument(
            "--spec-augment", action=argparse.BooleanOptionalAction, default=None,
            help="in training, mask random mel bands and frame spans (default off)",
        )
        group.add_argument("--max-seconds", type=float, help="longest --data wavs file accepted (default 30)")
        group.add_argument("--num-mel-bins", type=int)
        group.add_argument(
            "--normalization", choices=["utterance", "causal"],
            help="feature statistics over the whole utterance or up to each frame "
            "(default: utterance if bidirectional, causal otherwise; causal is needed for streaming)",
        )
        group.add_argument("--subsampling", type=int, help="stride of the conv before the RNN (1: none)")
        group.add_argument("--conv-filters", type=int)
        group.add_argument("--beam-width", type=int, help="CTC beam search width (1: greedy)")

    # -- data

    def build_inputs(self, config):
        source, data_dir = config["data"], config["data_dir"]
        if source is None:
            source = "fsdd" if fsdd_is_available(data_dir) else "synthetic"
            print(
                f"ctc_speech: FSDD found in {data_dir} (for offline synthetic digits: --data synthetic)."
                if source == "fsdd"
                else "ctc_speech: no FSDD in --data-dir, using synthetic spoken digits (for FSDD: "
                "--data fsdd --data-dir DIR with recordings.tar.gz or recordings/*.wav)."
            )
        if source not in ("fsdd", "wavs", "synthetic"):
            raise ValueError(f"--data {source!r}: choose fsdd, wavs or synthetic.")
        check_alphabet(config["alphabet"])
        if source != "wavs" and config["alphabet"] != DIGITS:
            raise ValueError(f"--alphabet is for --data wavs; --data {source} has the digits {DIGITS}.")
        config["data"] = source
        rng = np.random.default_rng(config["seed"])  # training data order and compositions
        if source == "wavs":
            train, train_size, validation, test, description, info = _wav_folder_splits(config, rng)
        else:
            train, train_size, validation, test, description, info = _composed_splits(config, source, rng)
        batch = config["batch_size"]
        return Data(
            train=utterance_dataset(train, train_size, batch, rng),
            validation=utterance_dataset(lambda: validation, len(validation), batch),
            test=utterance_dataset(lambda: test, len(test), batch),
            description=description,
            info={
                "source": source,
                "sample_rate": SAMPLE_RATE,
                "alphabet": config["alphabet"],
                "sizes": [train_size, len(validation), len(test)],
                **info,
            },
        )

    # -- model

    def build_model(self, config, data=None):
        alphabet = data.info["alphabet"] if data else config["alphabet"]
        normalization = config["normalization"] or ("utterance" if config["bidirectional"] else "causal")
        waveform = keras.Input((None,), name="waveform")
        length = keras.Input((), dtype="int32", name="length")
        log_mel = LogMelSpectrogram(
            SAMPLE_RATE, FRAME_LENGTH, FRAME_STEP, num_mel_bins=config["num_mel_bins"],
            causal=normalization == "causal", name="log_mel",
        )
        hidden = log_mel([waveform, length])  # (batch, frames, mel), masked
        if data is not None:  # the normalisation prior: training-set statistics
            log_mel.adapt((x["waveform"], x["length"]) for x, _ in data.train.take(8))
        if config["spec_augment"]:
            hidden = SpecAugment(seed=config["seed"], name="spec_augment")(hidden)
        if config["subsampling"] > 1:
            subsampling = ConvSubsampling(config["conv_filters"], config["subsampling"], name="subsampling")
            hidden = subsampling(hidden)  # (batch, frames / stride, filters)
        hidden = recurrent_stack(
            hidden,
            cell=config["cell"],
            units=config["units"],
            num_layers=config["num_layers"],
            bidirectional=config["bidirectional"],
            dropout=config["dropout"],
        )
        logits = keras.layers.Dense(len(alphabet) + 1, name="logits")(hidden)  # last: blank
        logits = PadAsBlank(name="pad_as_blank")(logits)
        inputs = {"waveform": waveform, "length": length}
        return keras.Model(inputs, logits, name=f"ctc_speech_{config['cell']}")

    def build_losses(self, config):
        return CTCLoss()

    def build_metrics(self, config):
        return [GreedyErrorRate(name="cer")]

    # -- evaluation

    def evaluate(self, model, data, config):
        alphabet = data.info["alphabet"]
        infer = _inference_function(model, alphabet, config["beam_width"])
        references, greedy, beam = [], [], []
        for inputs, labels in data.test:
            outputs = infer(inputs["waveform"], inputs["length"])
            references += [decode_labels(row, alphabet) for row in labels.numpy()]
            greedy += [t.decode() for t in outputs["greedy_text"].numpy()]
            beam += [t.decode() for t in outputs["text"].numpy()]
        metrics = error_rates(references, beam, alphabet)
        metrics.update({f"greedy_{k}": v for k, v in error_rates(references, greedy, alphabet).items()})
        metrics.update(
            test_utterances=len(references),
            test_symbols=sum(len(r) for r in references),
            beam_width=config["beam_width"],
        )
        return metrics

    # -- export

    def serving_signatures(self, model, data, config):
        alphabet = data.info["alphabet"] if data else config["alphabet"]
        infer = _inference_function(model, alphabet, config["beam_width"], compile=False)

        def serve(waveform, length):
            outputs = infer(waveform, length)
            return {name: outputs[name] for name in ("text", "logits", "frame_lengths")}

        signatures = {"serving_default": (serve, SERVING_INPUTS)}
        if can_stream(model):
            stream = StreamingRecognizer(model, alphabet)
            signatures["step"] = (
                stream.step,
                [
                    tf.TensorSpec([None, None], tf.float32, name="audio"),
                    tf.TensorSpec([None, stream.state_size], tf.float32, name="state"),
                ],
            )
            signatures["initial_state"] = (
                lambda batch_size: {"state": stream.initial_state(batch_size)},
                [tf.TensorSpec([], tf.int32, name="batch_size")],
            )
        return signatures

    def serving_examples(self, data, config):
        """A few raw test utterances, valid inputs of `serving_default`."""
        inputs, _ = next(iter(data.test))
        lengths = inputs["length"].numpy()[:4]
        return {"waveform": inputs["waveform"].numpy()[:4, : lengths.max()], "length": lengths}


SERVING_INPUTS = [
    tf.TensorSpec([None, None], tf.float32, name="waveform"),  # at SAMPLE_RATE, in [-1, 1]
    tf.TensorSpec([None], tf.int32, name="length"),  # samples of each row
]


def output_lengths(model, lengths):
    """Frames of the model's logits that hold `lengths` samples."""
    frames = model.get_layer("log_mel").frame_lengths(lengths)
    subsampling = _find_layer(model, "subsampling")
    return frames if subsampling is None else subsampling.output_lengths(frames)


def _find_layer(model, name):
    return next((layer for layer in model.layers if layer.name == name), None)


def _inference_function(model, alphabet, beam_width, compile=True):
    """`(waveform, length) → {text, greedy_text, logits, frame_lengths}`, tolerant of edge cases."""
    subsampling = _find_layer(model, "subsampling")
    min_samples = FRAME_STEP * (subsampling.stride if subsampling else 1)

    def infer(waveform, length):
        # Pad rows too short for one output frame (the padding is masked), and keep
        # lengths within the waveform.
        width = tf.shape(waveform)[1]
        waveform = tf.pad(waveform, [[0, 0], [0, tf.maximum(0, min_samples - width)]])
        length = tf.clip_by_value(tf.cast(length, tf.int32), 0, width)
        logits = model({"waveform": waveform, "length": length}, training=False)
        frame_lengths = output_lengths(model, length)
        return {
            "text": ctc_decode(logits, frame_lengths, alphabet, beam_width),
            "greedy_text": ctc_decode(logits, frame_lengths, alphabet, 1),
            "logits": logits,
            "frame_lengths": frame_lengths,
        }

    if not compile:
        return infer
    return tf.function(infer, input_signature=SERVING_INPUTS, autograph=False)


def can_stream(model):
    """Whether every layer of the model looks at the past only (see `StreamingRecognizer`)."""
    bidirectional = any(isinstance(layer, keras.layers.Bidirectional) for layer in model.layers)
    return not bidirectional and model.get_layer("log_mel").causal


class StreamingRecognizer:
    """Runs a unidirectional model on audio chunks, with all state in one flat tensor.

    The state `[batch, S]` holds, in order: the log-mel layer's last samples and
    running sums, the convolution's last input frames, each recurrent layer's
    states, and the previous frame's greedy symbol plus one (0: none or blank), so
    zeros are the state before any audio. A chunk must be a whole number of
    `chunk_samples` (one output frame: 20 ms with the default hop and stride).
    """

    def __init__(self, model, alphabet):
        if not can_stream(model):
            raise ValueError(
                "streaming needs a unidirectional model with causal normalisation "
                "(--no-bidirectional, --normalization causal)."
            )
        self.log_mel = model.get_layer("log_mel")
        self.subsampling = _find_layer(model, "subsampling")
        self.recurrent = [
            (layer, keras.layers.RNN(layer.cell, return_sequences=True, return_state=True))
            for layer in model.layers
            if isinstance(layer, keras.layers.RNN)
        ]
        self.dense = model.get_layer("logits")
        self.alphabet = alphabet
        self.blank = len(alphabet)
        self.chunk_samples = FRAME_STEP * (self.subsampling.stride if self.subsampling else 1)
        mel = self.log_mel.num_mel_bins
        self.sizes = [self.log_mel.context, mel, mel, 1]
        if self.subsampling:
            self.sizes.append(self.subsampling.context * mel)
        for layer, _ in self.recurrent:
            state_size = layer.cell.state_size
            self.sizes += list(state_size) if isinstance(state_size, (list, tuple)) else [state_size]
        self.sizes.append(1)  # previous symbol + 1
        self.state_size = sum(self.sizes)

    def initial_state(self, batch_size):
        return tf.zeros([batch_size, self.state_size])

    def step(self, audio, state):
        tf.debugging.assert_equal(
            tf.shape(audio)[1] % self.chunk_samples, 0,
            message=f"step: audio chunks must hold a multiple of {self.chunk_samples} samples "
            f"({1000 * self.chunk_samples // SAMPLE_RATE} ms at {SAMPLE_RATE} Hz)",
        )
        parts = tf.split(state, self.sizes, axis=1)
        batch = tf.shape(audio)[0]
        mel = self.log_mel.num_mel_bins
        new_state = []
        hidden, log_mel_state = self.log_mel.stream(audio, parts[:4])
        new_state += log_mel_state
        index = 4
        if self.subsampling:
            context = tf.reshape(parts[index], [batch, self.subsampling.context, mel])
            hidden, (context,) = self.subsampling.stream(hidden, [context])
            new_state.append(tf.reshape(context, [batch, -1]))
            index += 1
        for layer, rnn in self.recurrent:
            count = len(layer.cell.state_size) if isinstance(layer.cell.state_size, (list, tuple)) else 1
            hidden, *states = rnn(hidden, initial_state=parts[index : index + count])
            new_state += states
            index += count
        logits = self.dense(hidden)  # (batch, frames, symbols + 1)

        # Greedy CTC emission: a symbol that is not blank and differs from the frame before.
        symbols = tf.argmax(logits, axis=-1, output_type=tf.int32)
        previous = tf.cast(tf.round(parts[index][:, 0]), tf.int32) - 1
        previous = tf.where(previous < 0, self.blank, previous)
        before = tf.concat([previous[:, None], symbols[:, :-1]], axis=1)
        emitted = tf.ragged.boolean_mask(symbols, (symbols != self.blank) & (symbols != before))
        text = tf.strings.reduce_join(tf.gather(tf.constant(list(self.alphabet)), emitted), axis=-1)
        last = tf.concat([previous[:, None], symbols], axis=1)[:, -1]
        new_state.append(tf.cast(tf.where(last == self.blank, 0, last + 1), tf.float32)[:, None])
        return {"text": text, "logits": logits, "state": tf.concat(new_state, axis=1)}


TASK = CtcSpeechTask()
