"""Offline speech synthesis with eSpeak NG, for training data from voices nobody recorded.

eSpeak NG's library and data ship in the `espeakng-loader` wheel (the `[speech]` extra);
this module calls the library through ctypes (its C API: `espeak_Initialize` in
synchronous mode, a synthesis callback collecting 16-bit samples at 22,050 Hz,
`espeak_SetVoiceByName`, `espeak_SetParameter`, `espeak_Synth`).

    samples, rate = say("seven", Voice("en-US", "m3", pitch=40, pitch_range=60, rate=160))
    [(samples, rate), ...] = say_all([("one", voice), ("two", voice)])   # reproducible

A voice is an English accent (`ACCENTS`) with one of eSpeak NG's voice variants
(`variants()`: about a hundred, m1-m8, f1-f5, klatt1-6, named ones) and its pitch
(0-99), pitch range (0-99) and rate (words per minute).
"""

import ctypes
import dataclasses
import os
import shutil
import tempfile
import threading

import numpy as np

ACCENTS = ("en", "en-US", "en-GB-x-rp", "en-GB-scotland", "en-GB-x-gbclan", "en-GB-x-gbcwmd", "en-US-nyc", "en-029")
_RATE, _PITCH, _RANGE = 1, 3, 4  # espeak_PARAMETER
_SYNCHRONOUS, _POS_CHARACTER = 2, 1
_lock = threading.Lock()
_engine = None


class TtsUnavailable(RuntimeError):
    """eSpeak NG is not installed."""


@dataclasses.dataclass(frozen=True)
class Voice:
    accent: str = "en"
    variant: str = ""  # "" for the accent's own voice
    pitch: int = 50
    pitch_range: int = 50
    rate: int = 175

    @property
    def name(self):
        return self.accent + (f"+{self.variant}" if self.variant else "")


def _loader():
    try:
        import espeakng_loader
    except ImportError:
        raise TtsUnavailable("the eSpeak NG engine is not installed: pip install espeakng-loader "
                             "(or the project's [speech] extra)") from None
    return espeakng_loader


def available():
    """Whether eSpeak NG can be loaded here."""
    try:
        _loader()
    except TtsUnavailable:
        return False
    return True


def variants():
    """eSpeak NG's voice variants, by name."""
    return sorted(os.listdir(os.path.join(_loader().get_data_path(), "voices", "!v")))


class _Engine:
    """One instance of the library. eSpeak NG keeps state from one synthesis to the next (the
    same text and voice come out a few samples apart), so `Engine()` loads a fresh copy of
    the library (from a temporary file: a path already loaded would give the same instance)
    for output that depends only on what it is asked, in order."""

    def __init__(self, fresh=False):
        loader = _loader()
        path = loader.get_library_path()
        if fresh:
            copy = tempfile.NamedTemporaryFile(suffix=".so", delete=False)
            with open(path, "rb") as source:
                shutil.copyfileobj(source, copy)
            copy.close()
            path = copy.name
        self.library = ctypes.cdll.LoadLibrary(path)
        if fresh:
            os.unlink(path)  # loaded: the mapping outlives the name
        self.sample_rate = self.library.espeak_Initialize(_SYNCHRONOUS, 0, loader.get_data_path().encode(), 0)
        if self.sample_rate <= 0:
            raise TtsUnavailable(f"eSpeak NG did not start (espeak_Initialize returned {self.sample_rate}).")
        self.chunks = []
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self.callback = callback_type(self._collect)  # kept: the library holds only a pointer
        self.library.espeak_SetSynthCallback(self.callback)
        self.variants = set(variants())

    def _collect(self, samples, count, events):
        if count > 0:
            self.chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0

    def say(self, text, voice):
        if voice.accent not in ACCENTS:
            raise ValueError(f"unknown accent {voice.accent!r}; choose one of {list(ACCENTS)}.")
        if voice.variant and voice.variant not in self.variants:
            raise ValueError(f"unknown eSpeak NG voice variant {voice.variant!r}; tasks.ctc_speech.tts.variants() lists them.")
        if self.library.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise ValueError(f"eSpeak NG refused the voice {voice.name!r}.")
        for parameter, value in ((_RATE, voice.rate), (_PITCH, voice.pitch), (_RANGE, voice.pitch_range)):
            self.library.espeak_SetParameter(parameter, int(value), 0)
        self.chunks = []
        encoded = text.encode()
        self.library.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
        self.library.espeak_Synchronize()
        samples = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        return samples.astype("float32") / 32768.0


def say(text, voice=Voice()):
    """(float32 samples in [-1, 1], sample rate) of `text` said by `voice`, on the shared engine
    (its output drifts by a few samples with what it said before); TtsUnavailable without the
    engine, ValueError for an unknown accent or variant."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = _Engine()
        return _engine.say(text, voice), _engine.sample_rate


def say_all(requests):
    """[(samples, sample rate)] for (text, voice) `requests`, on a fresh engine, in order: the
    same requests give the same samples in any process, whatever was said before."""
    with _lock:
        engine = _Engine(fresh=True)
        return [(engine.say(text, voice), engine.sample_rate) for text, voice in requests]
