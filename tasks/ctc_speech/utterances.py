"""Spoken digit utterances for the CTC speech task: who says the digits, and how they are composed.

Speakers say a digit sequence as one clip per digit: `RecordedSpeakers` with FSDD
recordings (`data.load_fsdd`), one speaker per utterance, or `SyntheticSpeakers`
with a formant synthesiser, a new random voice per utterance. Each digit is a
sequence of 2-4 phones (formant vowels and nasals on a harmonic source, noise
fricatives, stop bursts) said by a random voice (pitch, vocal tract length, speaking
rate, tilt, breathiness), so durations overlap between digits and only the spectral
sequence tells them apart.

`compose` joins the clips with random pauses and gains, level and background noise;
`random_utterance` draws the digits. Training utterances can be augmented:
`perturb_speaker` resamples all clips by one factor (a new speaker's tempo, pitch and
formants), `random_equaliser` is a new channel, and a fraction are noise alone.
"""

import numpy as np

from tasks.ctc_speech.data import FSDD_SAMPLE_RATE, Utterance
from tasks.ctc_speech.settings import TTS_ENGINES
from zoo.audio import resample

SAMPLE_RATE = FSDD_SAMPLE_RATE  # Hz: utterances are composed at FSDD's rate

# ------------------------------------------------------------------ recorded


class RecordedSpeakers:
    """Says digit sequences with recorded clips, one speaker per utterance; a clip that holds no word
    (`is_silent`) is left out and listed in `silent`."""

    def __init__(self, clips):
        self.clips = {}
        spoken, self.silent = split_silent(clips)
        for clip in spoken:
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
    return unit_rms(samples)


def unit_rms(clip):
    """`clip` at RMS 0.1, float32: every digit clip's level before composition."""
    return (0.1 * clip / (np.sqrt(np.mean(clip**2)) + 1e-9)).astype("float32")


def interpolated(clip, step):
    """`clip` read every `step` samples (linear interpolation): played `step` times faster,
    tempo, pitch and formants together."""
    return np.interp(np.arange(0, len(clip) - 1, step), np.arange(len(clip)), clip)


class SyntheticSpeakers:
    """Says digit sequences with synthetic digits, one random voice per utterance."""

    def __init__(self, sample_rate=SAMPLE_RATE):
        self.sample_rate = sample_rate

    def speak(self, digits, rng):
        voice = random_voice(rng)
        return [synthetic_digit(d, voice, rng, self.sample_rate) for d in digits]

    def digits(self):
        return list(range(10))


# ------------------------------------------------------- many synthesised voices

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICE_PITCH, VOICE_RANGE, VOICE_RATE = (15, 85), (10, 90), (120, 230)  # eSpeak NG's units
VOCAL_TRACT = (0.88, 1.14)  # resampling factor per voice: formants (and pitch) scaled
SILENCE_DB = -40.0  # trimmed from each word's ends, relative to its peak


def random_tts_voice(rng, variants):
    """An eSpeak NG voice: an English accent, a variant, pitch, range, rate; and a vocal tract factor."""
    from tasks.ctc_speech.tts import ACCENTS, Voice

    return Voice(ACCENTS[rng.integers(len(ACCENTS))], variants[rng.integers(len(variants))],
                 int(rng.integers(*VOICE_PITCH)), int(rng.integers(*VOICE_RANGE)),
                 int(rng.integers(*VOICE_RATE))), float(rng.uniform(*VOCAL_TRACT))


def trimmed(samples):
    loud = np.flatnonzero(np.abs(samples) > np.abs(samples).max() * 10 ** (SILENCE_DB / 20))
    return samples[loud[0]: loud[-1] + 1] if len(loud) else samples


class SynthesisedSpeakers:
    """`count` synthetic voices (fixed by `seed`) saying the digit words, one voice per utterance.

    engine "espeak": eSpeak NG (`tasks.ctc_speech.tts`), each voice an accent, variant, pitch, range,
    rate and vocal tract length (resampling), its ten words synthesised when the voices are
    made (in one order on a fresh engine, so the same seed gives the same audio in every
    run; about 25 ms per voice) and kept in memory, never written. "formant": the task's
    formant voices (`SyntheticSpeakers`), which say each digit in a made-up phone code, not
    English: a stand-in that teaches nothing about real digit words. "auto": eSpeak NG when
    installed, else the formant voices with a notice. `held_out`: a different set of voices
    from the same seed (to validate on voices the model never trained on).
    """

    def __init__(self, count, seed=0, engine="auto", variants=None, held_out=False):
        from tasks.ctc_speech import tts

        if engine not in TTS_ENGINES:
            raise ValueError(f"--tts {engine}: choose one of {list(TTS_ENGINES)}.")
        if count < 1:
            raise ValueError(f"--synthetic-voices {count}: give at least 1.")
        if engine == "espeak" and not tts.available():
            raise ValueError("--tts espeak: the eSpeak NG engine is not installed (pip install espeakng-loader, or "
                             "the [speech] extra); --tts formant uses the task's formant voices instead.")
        if engine == "auto":
            engine = "espeak" if tts.available() else "formant"
            if engine == "formant":
                print("ctc_speech: eSpeak NG is not installed, so the synthetic voices are the formant "
                      "voices, which do not say English digit words (pip install espeakng-loader).", flush=True)
        self.engine, self.count, self.words = engine, count, {}
        rng = np.random.default_rng([seed, 22 if held_out else 21])  # held out: other voices for validation
        if engine == "formant":  # their words are made on demand (`word`)
            self.formant_voices = [random_voice(rng) for _ in range(count)]
            return
        names = tts.variants()
        unknown = [name for name in variants or [] if name not in names]
        if unknown:
            raise ValueError(f"--tts-variants: unknown eSpeak NG voice variant(s) {unknown}; "
                             f"known: {', '.join(names)}.")
        self.voices = [random_tts_voice(rng, list(variants or names)) for _ in range(count)]
        # Every word now, in one order on a fresh engine: the same in every run.
        said = tts.say_all([(DIGIT_WORDS[digit], voice) for voice, _ in self.voices for digit in range(10)])
        for (index, digit), (samples, rate) in zip(np.ndindex(count, 10), said):
            # To FSDD's rate, band-limited, read as if recorded at rate · tract: formants and pitch x tract.
            self.words[index, digit] = unit_rms(resample(trimmed(samples), rate * self.voices[index][1], SAMPLE_RATE))

    def word(self, index, digit):
        """Voice `index` saying `digit`: float32 at SAMPLE_RATE, RMS 0.1."""
        if (index, digit) not in self.words:  # a formant voice's word
            self.words[index, digit] = synthetic_digit(digit, self.formant_voices[index],
                                                       np.random.default_rng([index, digit]))
        return self.words[index, digit]

    def speak(self, digits, rng):
        index = int(rng.integers(self.count))
        return [self.word(index, d) for d in digits]

    def digits(self):
        return list(range(10))


RECORDING_FRAME_S = 0.02  # frames of a recording whose energy decides where its word is
RECORDING_SILENCE_DB = -30.0  # frames this far below the loudest one are silence or room noise
RECORDING_MARGIN_S = 0.05  # kept around the word
SILENT_DBFS = -60.0  # a clip whose loudest frame is quieter than this holds no word (the real clips: -34 or louder)


def _frame_energies(samples, sample_rate):
    """The mean square of each whole 20 ms frame (none for a clip shorter than one)."""
    frame = int(RECORDING_FRAME_S * sample_rate)
    count = len(samples) // frame
    return np.mean(np.asarray(samples[: count * frame], "float64").reshape(count, frame) ** 2, axis=1)


def is_silent(samples, sample_rate=SAMPLE_RATE):
    """Whether a recording holds no word: empty, shorter than a frame, or its loudest 20 ms frame below
    `SILENT_DBFS` (RMS re full scale)."""
    energy = _frame_energies(samples, sample_rate)
    return not len(energy) or energy.max() < 10 ** (SILENT_DBFS / 10)


def split_silent(clips):
    """(the clips that hold a word, those that hold none: `is_silent`), each in the given order."""
    silent = [is_silent(clip.samples) for clip in clips]
    return ([clip for clip, quiet in zip(clips, silent) if not quiet],
            [clip for clip, quiet in zip(clips, silent) if quiet])


def speech_span(samples, sample_rate=SAMPLE_RATE):
    """A recorded word without the silence and room noise around it (a Speech Commands clip frames its word
    in one second): from the first to the last 20 ms frame within 30 dB of the loudest, 50 ms either side."""
    frame = int(RECORDING_FRAME_S * sample_rate)
    energy = _frame_energies(samples, sample_rate)
    if not len(energy):
        return samples
    loud = np.flatnonzero(energy > energy.max() * 10 ** (RECORDING_SILENCE_DB / 10))
    if energy.max() == 0 or not len(loud):
        return samples
    margin = int(RECORDING_MARGIN_S * sample_rate)
    return samples[max(0, loud[0] * frame - margin): (loud[-1] + 1) * frame + margin]


class ClipPool:
    """Recorded digit words of many voices with few words each (Speech Commands): each digit of an utterance
    is a random clip of that digit (a voice per digit), its silence trimmed (`speech_span`). A clip that holds
    no word (`is_silent`: empty, or silence) would teach the model a digit where nothing is said: it is left
    out, and listed in `silent`."""

    def __init__(self, clips):
        self.words = {}
        spoken, self.silent = split_silent(clips)
        for clip in spoken:
            self.words.setdefault(clip.digit, []).append(speech_span(clip.samples))
        self.speakers = sorted({clip.speaker for clip in spoken})

    def speak(self, digits, rng):
        return [self.words[d][rng.integers(len(self.words[d]))] for d in digits]

    def digits(self):
        return sorted(self.words)


class MixedSpeakers:
    """`real` speakers, and with probability `share` per utterance `synthetic` ones instead."""

    def __init__(self, real, synthetic, share):
        self.real, self.synthetic, self.share = real, synthetic, share

    def speak(self, digits, rng):
        return (self.synthetic if rng.random() < self.share else self.real).speak(digits, rng)

    def digits(self):
        return self.real.digits()


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
# A room and a band (`channel` in `compose`, for a share of the augmented utterances):
ROOM_RT60_S = (0.1, 0.7)  # reverberation time: the tail decays 60 dB in this long
DIRECT_TO_REVERB_DB = (-3.0, 12.0)  # energy of the direct sound over that of the tail
BAND_LOW_HZ, BAND_HIGH_HZ = (50.0, 300.0), (2800.0, 4000.0)  # the band that is kept


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
    return [interpolated(clip, factor).astype("float32") for clip in clips]


def random_equaliser(waveform, rng):
    """`waveform` through a smooth random filter: gain in dB a sum of three cosines over frequency."""
    size = _fft_size(len(waveform))
    spectrum = np.fft.rfft(waveform, size)
    position = np.linspace(0.0, np.pi, len(spectrum))
    gain_db = sum(
        rng.uniform(-1, 1) * np.cos(k * position + rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3)
    ) * (EQ_DB / 3)
    return np.fft.irfft(spectrum * 10 ** (gain_db / 20), size)[: len(waveform)]


def random_channel(waveform, rng, sample_rate=SAMPLE_RATE):
    """`waveform` said in a random room and heard through a random band.

    The room's impulse response is a direct path then a tail of Gaussian noise decaying
    exponentially (amplitude 10^(-3 t / RT60), RT60 in `ROOM_RT60_S`: Polack's statistical
    model of late reverberation), the two at a random direct-to-reverberant ratio, scaled to
    unit energy so the level stays; the band keeps `BAND_LOW_HZ`-`BAND_HIGH_HZ` (a telephone
    or a cheap microphone) with 12 dB per octave slopes outside it. One FFT for both."""
    rt60 = rng.uniform(*ROOM_RT60_S)
    time = np.arange(1, int(rt60 * sample_rate)) / sample_rate
    tail = rng.standard_normal(len(time)) * 10 ** (-3 * time / rt60)
    tail *= np.sqrt(10 ** (-rng.uniform(*DIRECT_TO_REVERB_DB) / 10) / np.sum(tail**2))
    impulse = np.concatenate([[1.0], tail]) / np.sqrt(1 + np.sum(tail**2))
    size = _fft_size(len(waveform) + len(impulse) - 1)
    frequencies = np.maximum(np.fft.rfftfreq(size, 1 / sample_rate), 1e-3)
    low, high = rng.uniform(*BAND_LOW_HZ), rng.uniform(*BAND_HIGH_HZ)
    band = 1 / (1 + (low / frequencies) ** 2) / (1 + (frequencies / high) ** 2)
    spectrum = np.fft.rfft(waveform, size) * np.fft.rfft(impulse, size) * band
    return np.fft.irfft(spectrum, size)[: len(waveform)]


def compose(clips, rng, sample_rate=SAMPLE_RATE, equalise=False, channel=False):
    """One utterance from digit clips: random pauses and gains, optionally a random room
    and band (`random_channel`) and a random equaliser, then a random level and background
    noise."""
    pieces, speech = [np.zeros(int(rng.uniform(*LEADING_PAUSE_S) * sample_rate))], []
    for index, clip in enumerate(clips):
        if index:
            pieces.append(np.zeros(int(rng.uniform(*PAUSE_S) * sample_rate)))
        speech.append(clip * 10 ** (rng.uniform(-CLIP_GAIN_DB, CLIP_GAIN_DB) / 20))
        pieces.append(speech[-1])
    pieces.append(np.zeros(int(rng.uniform(*LEADING_PAUSE_S) * sample_rate)))
    waveform = np.concatenate(pieces)
    if channel:
        waveform = random_channel(waveform, rng, sample_rate)
    if equalise:
        waveform = random_equaliser(waveform, rng)
    speech_rms = np.sqrt(np.mean(np.concatenate(speech) ** 2)) + 1e-9
    level = 10 ** (rng.uniform(*LEVEL_DBFS) / 20)
    noise = coloured_noise(len(waveform), rng) * level * 10 ** (-rng.uniform(*SNR_DB) / 20)
    return np.clip(waveform * (level / speech_rms) + noise, -1.0, 1.0).astype("float32")


def random_utterance(speakers, rng, max_digits, augment=False, channel_share=0.0):
    """An `Utterance` of 1 to `max_digits` random digits said by one of `speakers`.

    With `augment`: by a perturbed speaker through a random equaliser, and with
    probability `channel_share` in a random room and band, or in a fraction `NOISE_ONLY`
    of utterances no digit at all, so that the model learns that noise, normalised per
    utterance to look as loud as speech, says nothing.
    """
    if augment and rng.random() < NOISE_ONLY:
        silence = np.zeros(int(rng.uniform(*NOISE_ONLY_S) * SAMPLE_RATE), "float32")
        return Utterance(compose([silence], rng, equalise=True), np.zeros(0, "int32"))
    choices = speakers.digits()
    digits = [choices[i] for i in rng.integers(len(choices), size=rng.integers(1, max_digits + 1))]
    clips = speakers.speak(digits, rng)
    if augment:
        clips = perturb_speaker(clips, rng)
    channel = augment and channel_share > 0 and rng.random() < channel_share
    return Utterance(compose(clips, rng, equalise=augment, channel=channel), np.array(digits, dtype="int32"))

