"""tasks.ctc_speech.tts: eSpeak NG through ctypes (skipped where the engine is not installed)."""

import sys

import numpy as np
import pytest

from tasks.ctc_speech import tts

needs_espeak = pytest.mark.skipif(not tts.available(), reason="eSpeak NG (espeakng-loader) is not installed")


@needs_espeak
def test_say_returns_float_samples_at_the_engines_rate():
    samples, rate = tts.say("seven", tts.Voice("en-US", "m3", pitch=40))
    assert rate == 22050 and samples.dtype == np.float32 and 0.2 < len(samples) / rate < 2.0
    assert 0.05 < np.abs(samples).max() <= 1.0


@needs_espeak
def test_say_all_gives_the_same_samples_whatever_was_said_before():
    voice, other = tts.Voice("en-US", "m3", pitch=40), tts.Voice("en-GB-x-rp", "f2", pitch=70)
    first = tts.say_all([("seven", voice), ("nine", other)])
    tts.say("something else", other)  # the shared engine drifts; say_all starts afresh
    again = tts.say_all([("seven", voice), ("nine", other)])
    for (samples, rate), (same, _) in zip(first, again):
        np.testing.assert_array_equal(samples, same)
    assert not np.array_equal(first[0][0][:1000], tts.say_all([("seven", other)])[0][0][:1000])


@needs_espeak
def test_there_are_many_voice_variants_and_unknown_ones_are_named():
    assert len(tts.variants()) > 50 and {"m1", "f2", "klatt3"} <= set(tts.variants())
    with pytest.raises(ValueError, match="unknown eSpeak NG voice variant 'nobody'"):
        tts.say("one", tts.Voice("en", "nobody"))
    with pytest.raises(ValueError, match="unknown accent 'fr'"):
        tts.say("one", tts.Voice("fr"))


def test_a_missing_engine_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails
    assert not tts.available()
    with pytest.raises(tts.TtsUnavailable, match="the eSpeak NG engine is not installed: pip install espeakng-loader"):
        tts.variants()
