"""tasks.ctc_speech.utterances: speakers, the digit synthesiser, composition and augmentation."""

import numpy as np
import pytest

from tasks.ctc_speech import utterances as du
from tasks.ctc_speech.data import Clip
from tests.conftest import SPEECH_RATE as RATE
from tests.conftest import tone


def test_composed_utterances_hold_their_digits_from_one_speaker():
    # Speaker "a" says digit d as d + 1 samples of value 0.1, speaker "b" as value -0.1.
    clips = [
        Clip(d, speaker, 0, np.full(400 * (d + 1), 0.1 if speaker == "a" else -0.1, "float32"))
        for d in range(10) for speaker in ("a", "b")
    ]
    speakers = du.RecordedSpeakers(clips)
    rng = np.random.default_rng(0)
    counts = set()
    for _ in range(60):
        digits = list(rng.integers(10, size=rng.integers(1, 8)))
        said = speakers.speak(digits, rng)
        assert [len(c) // 400 - 1 for c in said] == digits
        assert len({float(np.sign(c[0])) for c in said}) == 1  # one speaker
        waveform = du.compose(said, rng)
        speech = sum(len(c) for c in said)
        lower = speech + 2 * int(du.LEADING_PAUSE_S[0] * RATE)
        upper = speech + 2 * int(du.LEADING_PAUSE_S[1] * RATE) + (len(said) - 1) * int(du.PAUSE_S[1] * RATE)
        assert lower <= len(waveform) <= upper and waveform.dtype == np.float32
        assert np.abs(waveform).max() <= 1.0
        utterance = du.random_utterance(speakers, rng, max_digits=7)
        counts.add(len(utterance.labels))
        assert utterance.labels.dtype == np.int32 and set(utterance.labels) <= set(range(10))
    assert counts == set(range(1, 8))


def test_augmentation_perturbs_the_speaker_and_channel():
    rng = np.random.default_rng(0)
    clips = [tone(0.5), tone(0.25)]
    perturbed = du.perturb_speaker(clips, rng)
    factor = len(clips[0]) / len(perturbed[0])
    assert du.SPEED[0] <= factor <= du.SPEED[1] and len(perturbed[1]) == pytest.approx(len(clips[1]) / factor, abs=1)
    spectrum = np.abs(np.fft.rfft(perturbed[0]))  # the 440 Hz tone moves by the same factor
    assert np.fft.rfftfreq(len(perturbed[0]), 1 / RATE)[spectrum.argmax()] == pytest.approx(440 * factor, abs=3)
    noise_only = [du.random_utterance(du.SyntheticSpeakers(), rng, 7, augment=True) for _ in range(100)]
    empty = [u for u in noise_only if len(u.labels) == 0]
    assert 1 <= len(empty) <= 15 and all(np.abs(u.waveform).max() > 0 for u in empty)
    equalised = du.random_equaliser(clips[0], rng)
    assert len(equalised) == len(clips[0])
    gain_db = 20 * np.log10(np.sqrt(np.mean(equalised**2) / np.mean(clips[0] ** 2)))
    assert abs(gain_db) <= du.EQ_DB


def test_a_random_channel_reverberates_and_band_limits():
    click = np.zeros(RATE, "float64")
    click[100] = 1.0
    heard = du.random_channel(click, np.random.default_rng(4))
    assert len(heard) == RATE and np.isfinite(heard).all()
    again = du.random_channel(click, np.random.default_rng(4))
    assert np.array_equal(heard, again)  # seeded
    energy = heard**2
    # A tail after the click, decaying: more energy in its first 50 ms than in the next 50 ms.
    early, late = energy[101:500].sum(), energy[500:900].sum()
    assert early > late > 0
    hum, speech = tone(0.5, 30.0), tone(0.5, 1000.0)  # under the lowest band edge, and inside every band
    for seed in range(5):
        kept = [np.mean(du.random_channel(x, np.random.default_rng(seed))[800:] ** 2) / np.mean(x**2)
                for x in (hum, speech)]
        assert kept[0] < 0.5 * kept[1]
    # Off by default: the same draws as before the option, so earlier runs repeat.
    speakers = du.SyntheticSpeakers()
    plain = du.random_utterance(speakers, np.random.default_rng(1), 7, augment=True)
    off = du.random_utterance(speakers, np.random.default_rng(1), 7, augment=True, channel_share=0.0)
    on = du.random_utterance(speakers, np.random.default_rng(1), 7, augment=True, channel_share=1.0)
    assert np.array_equal(plain.waveform, off.waveform) and not np.array_equal(plain.waveform, on.waveform)


def test_synthetic_digits_are_seeded_and_not_told_apart_by_duration():
    def clips(seed):
        rng = np.random.default_rng(seed)
        return [(d, du.synthetic_digit(d, du.random_voice(rng), rng)) for d in range(10) for _ in range(20)]

    first, again = clips(3), clips(3)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, again))
    assert not np.array_equal(first[0][1], clips(4)[0][1])
    assert all(np.isfinite(c).all() and np.sqrt(np.mean(c**2)) == pytest.approx(0.1, rel=1e-3) for _, c in first)
    # The best duration-only classifier (nearest digit mean) is far from perfect.
    durations = np.array([len(c) for _, c in first], dtype=float)
    digits = np.array([d for d, _ in first])
    means = np.array([durations[digits == d].mean() for d in range(10)])
    nearest = np.abs(durations[:, None] - means[None]).argmin(axis=1)
    assert np.mean(nearest == digits) < 0.5


# ------------------------------------------------------- many synthesised voices

needs_espeak = pytest.mark.skipif(not __import__("tasks.ctc_speech.tts").ctc_speech.tts.available(),
                                  reason="eSpeak NG (espeakng-loader) is not installed")


@needs_espeak
def test_synthesised_voices_are_fixed_by_the_seed_and_say_the_digits():
    from tasks.ctc_speech.utterances import SynthesisedSpeakers, random_utterance

    first, second, other = (SynthesisedSpeakers(300, seed) for seed in (0, 0, 1))
    assert first.engine == "espeak" and first.voices == second.voices != other.voices
    assert len(set(first.voices)) == 300  # distinct voices
    utterances = [random_utterance(first, np.random.default_rng(5), 7, augment=True) for _ in range(2)]
    again = [random_utterance(second, np.random.default_rng(5), 7, augment=True) for _ in range(2)]
    for utterance, same in zip(utterances, again):
        np.testing.assert_array_equal(utterance.waveform, same.waveform)
        np.testing.assert_array_equal(utterance.labels, same.labels)
    word = first.word(3, 7)  # "seven" at 8 kHz: a third of a second to a second and a half
    assert word.dtype == np.float32 and 0.3 * 8000 < len(word) < 1.5 * 8000
    assert np.isclose(np.sqrt(np.mean(word**2)), 0.1, rtol=1e-3)


def test_held_out_voices_are_other_voices_from_the_same_seed():
    from tasks.ctc_speech.utterances import SynthesisedSpeakers

    trained, held_out, again = (SynthesisedSpeakers(3, 0, "formant", held_out=h) for h in (False, True, True))
    assert trained.formant_voices != held_out.formant_voices == again.formant_voices


def test_without_the_engine_the_formant_voices_stand_in_with_a_notice(monkeypatch, capsys):
    from tasks.ctc_speech import tts
    from tasks.ctc_speech.utterances import SynthesisedSpeakers

    monkeypatch.setattr(tts, "available", lambda: False)
    voices = SynthesisedSpeakers(20, 0)
    assert voices.engine == "formant" and "eSpeak NG is not installed" in capsys.readouterr().out
    clips = voices.speak([1, 2, 3], np.random.default_rng(0))
    assert len(clips) == 3 and all(clip.dtype == np.float32 and len(clip) > 800 for clip in clips)
    with pytest.raises(ValueError, match="--tts espeak: the eSpeak NG engine is not installed"):
        SynthesisedSpeakers(20, 0, "espeak")


@pytest.mark.parametrize("arguments, message", [
    ({"count": 0}, "--synthetic-voices 0: give at least 1"),
    ({"count": 5, "engine": "festival"}, r"--tts festival: choose one of \['auto', 'espeak', 'formant'\]"),
])
def test_bad_voice_settings_are_named(arguments, message):
    from tasks.ctc_speech.utterances import SynthesisedSpeakers

    with pytest.raises(ValueError, match=message):
        SynthesisedSpeakers(**arguments)


@needs_espeak
def test_an_unknown_voice_variant_is_named():
    from tasks.ctc_speech.utterances import SynthesisedSpeakers

    with pytest.raises(ValueError, match=r"--tts-variants: unknown eSpeak NG voice variant\(s\) \['nobody'\]"):
        SynthesisedSpeakers(5, 0, "espeak", ["m1", "nobody"])


def test_mixed_speakers_take_the_synthetic_voices_at_their_share():
    from tasks.ctc_speech.utterances import MixedSpeakers

    class Says:
        def __init__(self, value):
            self.value = value

        def speak(self, digits, rng):
            return [self.value] * len(digits)

        def digits(self):
            return list(range(10))

    rng = np.random.default_rng(0)
    for share, expected in ((0.0, "real"), (1.0, "synthetic")):
        mixed = MixedSpeakers(Says("real"), Says("synthetic"), share)
        assert {mixed.speak([1], rng)[0] for _ in range(20)} == {expected}
    mixed = MixedSpeakers(Says("real"), Says("synthetic"), 0.3)
    said = [mixed.speak([1], rng)[0] for _ in range(2000)]
    assert abs(said.count("synthetic") / 2000 - 0.3) < 0.04


def test_a_recorded_word_is_cut_from_the_silence_and_noise_around_it():
    rng = np.random.default_rng(0)
    clip = rng.normal(0, 1e-3, 8000)  # room noise, 1 s at 8 kHz
    clip[3000:5000] += 0.3 * np.sin(np.arange(2000) / 3)  # the word
    span = du.speech_span(clip)
    assert 2000 <= len(span) <= 2000 + 2 * 400 + 2 * 160  # the word, 50 ms either side, frame rounding
    np.testing.assert_array_equal(du.speech_span(np.zeros(8000)), np.zeros(8000))  # nothing to find: kept


def test_a_clip_pool_says_each_digit_with_a_clip_of_that_digit():
    clips = [Clip(d, f"{s:08x}", 0, np.full(800, d + 1.0, "float32")) for s in range(3) for d in range(10)]
    pool = du.ClipPool(clips)
    said = pool.speak([4, 4, 9], np.random.default_rng(0))
    assert [float(word[0]) for word in said] == [5.0, 5.0, 10.0] and pool.digits() == list(range(10))
    assert pool.speakers == ["00000000", "00000001", "00000002"]


def test_the_clip_pools_leave_out_clips_that_hold_no_word():
    """An empty clip, or one of digital silence or a hum below -60 dBFS, would teach a digit where none is said."""
    said = [Clip(d, "0000000a", 0, np.full(800, 0.1 * (d + 1), "float32")) for d in range(10)]
    empty, silent = Clip(3, "0000000b", 0, np.zeros(0, "float32")), Clip(4, "0000000c", 0, np.zeros(8000, "float32"))
    hum = Clip(5, "0000000d", 0, np.full(8000, 5e-4, "float32"))  # -66 dBFS
    pool = du.ClipPool([*said, empty, silent, hum])
    assert pool.silent == [empty, silent, hum] and pool.speakers == ["0000000a"]
    assert [len(pool.words[d]) for d in range(10)] == [1] * 10
    assert du.is_silent(np.zeros(100)) and not du.is_silent(np.full(8000, 2e-3))  # -54 dBFS: a quiet word
    recorded = du.RecordedSpeakers([*said, empty, silent, hum])  # FSDD's speakers: the same rule
    assert recorded.silent == [empty, silent, hum] and recorded.speakers == ["0000000a"]
