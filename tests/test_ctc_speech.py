"""The CTC speech task: WAV reading, utterance composition, CTC pieces, model, export, streaming."""

import json
import subprocess
import sys
import wave

import keras
import numpy as np
import pytest
import tensorflow as tf

import train
from tasks import ctc_speech as cs
from tests.conftest import REPO, require_data
from zoo import audio
from zoo.export import export_saved_model

RATE = cs.SAMPLE_RATE

# ------------------------------------------------------------------- WAV files


def tone(seconds=0.25, frequency=440.0, rate=RATE, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype("float32")


@pytest.mark.parametrize("width, step", [(1, 1 / 128), (2, 1 / 32768), (3, 2.0**-23), (4, 2.0**-31)])
def test_pcm_widths_round_trip(tmp_path, width, step):
    samples = tone()
    audio.write_wav(tmp_path / "a.wav", samples, RATE, sample_width=width)
    read, rate = audio.read_wav(tmp_path / "a.wav")
    assert rate == RATE and read.dtype == np.float32 and read.shape == samples.shape
    np.testing.assert_allclose(read, samples, atol=step)


def test_stereo_is_averaged(tmp_path):
    left = tone()
    audio.write_wav(tmp_path / "s.wav", np.stack([left, -0.5 * left], axis=1), RATE)
    read, _ = audio.read_wav(tmp_path / "s.wav")
    np.testing.assert_allclose(read, 0.25 * left, atol=1e-4)


def test_other_rates_are_resampled_keeping_the_pitch(tmp_path):
    audio.write_wav(tmp_path / "hi.wav", tone(0.5, 440.0, rate=16000), 16000)
    samples, rate = audio.load_wav(tmp_path / "hi.wav", RATE)
    assert rate == 16000 and len(samples) == 4000
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.fft.rfftfreq(len(samples), 1 / RATE)[spectrum.argmax()] == pytest.approx(440.0, abs=2)
    np.testing.assert_allclose(np.sqrt(np.mean(samples**2)), 0.5 / np.sqrt(2), rtol=0.02)


def test_truncated_and_corrupt_files_are_named(tmp_path):
    audio.write_wav(tmp_path / "full.wav", tone(), RATE)
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:1000])
    with pytest.raises(ValueError, match=r"cut.wav: truncated WAV file: the header announces 2000 frames, the file holds 478"):
        audio.read_wav(tmp_path / "cut.wav")
    (tmp_path / "head.wav").write_bytes(data[:20])
    with pytest.raises(ValueError, match=r"head.wav: (truncated WAV file|not a PCM WAV)"):
        audio.read_wav(tmp_path / "head.wav")
    (tmp_path / "noise.wav").write_bytes(b"not a wav file at all" * 10)
    with pytest.raises(ValueError, match=r"noise.wav: not a PCM WAV file we can read .*convert it to 16-bit PCM"):
        audio.read_wav(tmp_path / "noise.wav")
    with wave.open(str(tmp_path / "empty.wav"), "wb") as writer:
        writer.setnchannels(1), writer.setsampwidth(2), writer.setframerate(RATE)
    with pytest.raises(ValueError, match="empty.wav: the WAV file holds no samples"):
        audio.read_wav(tmp_path / "empty.wav")


# ---------------------------------------------------------------- text and metrics


def test_transcripts_drop_spaces_and_name_unknown_characters():
    np.testing.assert_array_equal(cs.encode_text(" 1 2 0", cs.DIGITS, "x"), [1, 2, 0])
    with pytest.raises(ValueError, match=r"train.csv, row 3: transcript '12a4' has 'a', not in the alphabet '0123456789'"):
        cs.encode_text("12a4", cs.DIGITS, "train.csv, row 3")
    np.testing.assert_array_equal(cs.encode_text("ab ba", "ab ", "x"), [0, 1, 2, 1, 0])


def test_error_rates_on_constructed_cases():
    assert cs.edit_distance("123", "13") == 1 and cs.edit_distance("", "42") == 2
    result = cs.error_rates(["123", "45", "6"], ["13", "45", "68"])
    assert result == {"cer": pytest.approx(2 / 6), "wer": pytest.approx(2 / 6), "exact_match": pytest.approx(1 / 3)}
    words = cs.error_rates(["ab ba", "a"], ["ab bb", "a"], alphabet="ab ")
    assert words["wer"] == pytest.approx(1 / 3) and words["cer"] == pytest.approx(1 / 6)


def one_hot_logits(frames, classes=11):
    """Logits whose argmax follows `frames` (symbol indices; 10 is blank)."""
    return tf.constant(np.eye(classes, dtype="float32")[frames][None] * 10.0)


@pytest.mark.parametrize("beam_width", [1, 8])
def test_ctc_decoding_collapses_repeats_and_drops_blanks(beam_width):
    logits = one_hot_logits([10, 1, 1, 10, 1, 2, 2, 10, 0, 10, 7, 7])
    text = cs.ctc_decode(logits, tf.constant([10]), cs.DIGITS, beam_width)  # last 2 frames cut
    assert text.numpy().tolist() == [b"1120"]


def test_padded_frames_are_blank_so_ctc_sees_the_true_length():
    logits = tf.random.stateless_normal([2, 9, 11], seed=[1, 2])
    mask = tf.sequence_mask([9, 5], 9)
    padded = cs.PadAsBlank()(logits, mask=mask)
    labels = tf.constant([[3, 3, 1], [0, 4, -1]])
    loss = cs.CTCLoss(reduction=None)(labels, padded)
    expected = tf.nn.ctc_loss(
        tf.constant([[3, 3, 1], [0, 4, 0]]), logits, label_length=tf.constant([3, 2]),
        logit_length=tf.constant([9, 5]), logits_time_major=False, blank_index=-1,
    )
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-5)
    # An empty transcript (noise alone) costs the all-blank path over the valid frames.
    empty = cs.CTCLoss(reduction=None)(tf.constant([[-1, -1, -1], [0, 4, -1]]), padded)
    all_blank = -tf.reduce_sum(tf.nn.log_softmax(logits[0])[:, -1])
    np.testing.assert_allclose(empty.numpy(), [all_blank.numpy(), expected[1].numpy()], rtol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        padded_logits = cs.PadAsBlank()(logits, mask=mask)
        total = tf.reduce_sum(cs.CTCLoss(reduction=None)(tf.constant([[-1], [-1]]), padded_logits))
    assert np.isfinite(tape.gradient(total, logits).numpy()).all()
    metric = cs.GreedyErrorRate()
    decoded_120 = np.repeat(one_hot_logits([1, 10, 2, 10, 0, 10]).numpy(), 2, axis=0)
    metric.update_state(tf.constant([[1, 2, 0], [0, -1, -1]]), decoded_120)
    assert float(metric.result()) == pytest.approx(2 / 4)  # "120" vs "120": 0 errors, vs "0": 2


# ------------------------------------------------------------ composition and synthetic


def test_composed_utterances_hold_their_digits_from_one_speaker():
    # Speaker "a" says digit d as d + 1 samples of value 0.1, speaker "b" as value -0.1.
    clips = [
        cs.Clip(d, speaker, 0, np.full(400 * (d + 1), 0.1 if speaker == "a" else -0.1, "float32"))
        for d in range(10) for speaker in ("a", "b")
    ]
    speakers = cs.RecordedSpeakers(clips)
    rng = np.random.default_rng(0)
    counts = set()
    for _ in range(60):
        digits = list(rng.integers(10, size=rng.integers(1, 8)))
        said = speakers.speak(digits, rng)
        assert [len(c) // 400 - 1 for c in said] == digits
        assert len({float(np.sign(c[0])) for c in said}) == 1  # one speaker
        waveform = cs.compose(said, rng)
        speech = sum(len(c) for c in said)
        lower = speech + 2 * int(cs.LEADING_PAUSE_S[0] * RATE)
        upper = speech + 2 * int(cs.LEADING_PAUSE_S[1] * RATE) + (len(said) - 1) * int(cs.PAUSE_S[1] * RATE)
        assert lower <= len(waveform) <= upper and waveform.dtype == np.float32
        assert np.abs(waveform).max() <= 1.0
        utterance = cs.random_utterance(speakers, rng, max_digits=7)
        counts.add(len(utterance.labels))
        assert utterance.labels.dtype == np.int32 and set(utterance.labels) <= set(range(10))
    assert counts == set(range(1, 8))


def test_augmentation_perturbs_the_speaker_and_channel():
    rng = np.random.default_rng(0)
    clips = [tone(0.5), tone(0.25)]
    perturbed = cs.perturb_speaker(clips, rng)
    factor = len(clips[0]) / len(perturbed[0])
    assert cs.SPEED[0] <= factor <= cs.SPEED[1] and len(perturbed[1]) == pytest.approx(len(clips[1]) / factor, abs=1)
    spectrum = np.abs(np.fft.rfft(perturbed[0]))  # the 440 Hz tone moves by the same factor
    assert np.fft.rfftfreq(len(perturbed[0]), 1 / RATE)[spectrum.argmax()] == pytest.approx(440 * factor, abs=3)
    noise_only = [cs.random_utterance(cs.SyntheticSpeakers(), rng, 7, augment=True) for _ in range(100)]
    empty = [u for u in noise_only if len(u.labels) == 0]
    assert 1 <= len(empty) <= 15 and all(np.abs(u.waveform).max() > 0 for u in empty)
    equalised = cs.random_equaliser(clips[0], rng)
    assert len(equalised) == len(clips[0])
    gain_db = 20 * np.log10(np.sqrt(np.mean(equalised**2) / np.mean(clips[0] ** 2)))
    assert abs(gain_db) <= cs.EQ_DB


def test_spec_augment_masks_in_training_only():
    features = tf.ones([3, 50, 16])
    layer = audio.SpecAugment(frequency_masks=2, frequency_width=4, time_masks=2, time_width=5, seed=1)
    assert np.array_equal(layer(features), features)
    masked = layer(features, training=True).numpy()
    kept = masked.mean()
    assert 1 - (2 * 4 * 50 + 2 * 5 * 16) / (50 * 16) <= kept < 1
    bands = (masked == 0).all(axis=1).sum(axis=1)  # whole masked mel bins per utterance
    assert np.all(bands <= 8)


def test_synthetic_digits_are_seeded_and_not_told_apart_by_duration():
    def clips(seed):
        rng = np.random.default_rng(seed)
        return [(d, cs.synthetic_digit(d, cs.random_voice(rng), rng)) for d in range(10) for _ in range(20)]

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


def test_default_data_is_synthetic_with_a_notice(capsys, tmp_path):
    data = cs.TASK.build_inputs(
        {**cs.TASK.defaults, "data_dir": str(tmp_path), "train_utterances": 4,
         "validation_utterances": 2, "test_utterances": 3, "batch_size": 2}
    )
    assert "no FSDD in --data-dir, using synthetic spoken digits (for FSDD: --data fsdd" in capsys.readouterr().out
    assert data.info["source"] == "synthetic" and int(data.test.cardinality()) == 2
    inputs, labels = next(iter(data.test))
    assert inputs["waveform"].shape[0] == 2 and labels.dtype == tf.int32
    for row, length in zip(labels.numpy(), inputs["length"].numpy()):
        valid = row >= 0  # digits first, then -1 padding
        assert valid[0] and np.array_equal(valid, np.sort(valid)[::-1])
        assert length <= inputs["waveform"].shape[1]


# ---------------------------------------------------------------- WAV folders


def write_folder(tmp_path, rows, test_rows=None):
    for split, table in (("train", rows), ("test", test_rows or rows[:1])):
        (tmp_path / f"{split}.csv").write_text("file,transcript\n" + "".join(f"{f},{t}\n" for f, t in table))


def test_wav_folder_resamples_averages_and_names_bad_rows(tmp_path, capsys):
    audio.write_wav(tmp_path / "a.wav", np.stack([tone(1.0, rate=16000)] * 2, 1), 16000, sample_width=3)
    audio.write_wav(tmp_path / "quiet.wav", np.zeros(4000), RATE, sample_width=1)
    write_folder(tmp_path, [("a.wav", "1 2 3"), ("quiet.wav", "")])
    train_set, test_set = cs.load_transcribed_wavs(tmp_path, cs.DIGITS, 30.0, 2)
    assert [u.labels.tolist() for u in train_set] == [[1, 2, 3], []] and len(train_set[0].waveform) == RATE
    assert "resampled 2 WAV file(s) at [16000] Hz to 8000 Hz (first: " in capsys.readouterr().out

    write_folder(tmp_path, [("a.wav", "12x")])
    with pytest.raises(ValueError, match=r"train.csv, row 2: transcript '12x' has 'x'"):
        cs.load_transcribed_wavs(tmp_path, cs.DIGITS, 30.0, 2)
    write_folder(tmp_path, [("missing.wav", "1")])
    with pytest.raises(ValueError, match=r"train.csv, row 2: no WAV file .*missing.wav"):
        cs.load_transcribed_wavs(tmp_path, cs.DIGITS, 30.0, 2)
    write_folder(tmp_path, [("a.wav", "1")])
    with pytest.raises(ValueError, match=r"a.wav: 1.0 s of audio, longer than --max-seconds 0.5"):
        cs.load_transcribed_wavs(tmp_path, cs.DIGITS, 0.5, 2)
    write_folder(tmp_path, [("a.wav", "1" * 60)])
    with pytest.raises(ValueError, match=r"a.wav: 1.00 s gives 50 output frames, too few for the 60 symbols .*CTC needs 119"):
        cs.load_transcribed_wavs(tmp_path, cs.DIGITS, 30.0, 2)


# -------------------------------------------------------------------- model

TINY = {"units": 8, "num_layers": 1, "conv_filters": 8, "num_mel_bins": 16, "beam_width": 4, "subsampling": 2}


def tiny_model(**overrides):
    config = {**cs.TASK.defaults, **TINY, **overrides}
    return cs.TASK.build_model(config), config


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_an_utterances_logits(bidirectional):
    model, _ = tiny_model(bidirectional=bidirectional, cell="lstm" if bidirectional else "gru")
    waveform = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 4000)).astype("float32")
    batch = model({"waveform": waveform, "length": np.array([4000, 2400], "int32")})
    alone = model({"waveform": waveform[1:, :2400], "length": np.array([2400], "int32")})
    assert batch.shape == (2, 25, 11) and alone.shape == (1, 15, 11)
    np.testing.assert_allclose(batch[1, :15], alone[0], atol=1e-5)
    np.testing.assert_array_equal(np.argmax(batch[1, 15:], -1), 10)  # padding: blank


def test_a_tiny_model_trains_with_finite_loss():
    config = {**cs.TASK.defaults, **TINY, "train_utterances": 8, "validation_utterances": 4,
              "test_utterances": 4, "batch_size": 4, "data": "synthetic"}
    data = cs.TASK.build_inputs(config)
    model = cs.TASK.build_model(config, data)
    model.compile(optimizer="adam", loss=cs.TASK.build_losses(config), metrics=cs.TASK.build_metrics(config))
    history = model.fit(data.train, validation_data=data.validation, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(history.history["val_loss"][0])
    assert 0 <= history.history["val_cer"][0]
    prior = model.get_layer("log_mel").prior_mean.numpy()
    assert np.all(prior != 0)  # adapted to the training data
    metrics = cs.TASK.evaluate(model, data, config)
    assert {"cer", "wer", "exact_match", "greedy_cer"} <= set(metrics) and metrics["test_utterances"] == 4


def test_streaming_gives_the_whole_utterance_logits_and_text():
    model, config = tiny_model(bidirectional=False, num_layers=2, cell="lstm")
    stream = cs.StreamingRecognizer(model, cs.DIGITS)
    rng = np.random.default_rng(1)
    waveform = (rng.uniform(-0.3, 0.3, (2, 6400)) * np.linspace(0, 1, 6400)).astype("float32")
    full = model({"waveform": waveform, "length": np.array([6400, 6400], "int32")}).numpy()
    state, logits, text = stream.initial_state(2), [], [b"", b""]
    for start in range(0, 6400, 640):
        out = stream.step(tf.constant(waveform[:, start : start + 640]), state)
        state = out["state"]
        logits.append(out["logits"].numpy())
        text = [a + b for a, b in zip(text, out["text"].numpy())]
    np.testing.assert_allclose(np.concatenate(logits, axis=1), full, atol=1e-4)
    greedy = cs.ctc_decode(tf.constant(full), tf.constant([40, 40]), cs.DIGITS)
    assert text == greedy.numpy().tolist()
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiple of 160 samples"):
        stream.step(tf.zeros([1, 100]), stream.initial_state(1))
    with pytest.raises(ValueError, match=r"streaming needs a unidirectional model with causal normalisation"):
        cs.StreamingRecognizer(tiny_model(bidirectional=True)[0], cs.DIGITS)


def test_export_signatures(tmp_path):
    model, config = tiny_model(bidirectional=False)
    data = cs.TASK.build_inputs({**config, "data": "synthetic", "train_utterances": 4,
                                 "validation_utterances": 2, "test_utterances": 5, "batch_size": 5})
    examples = cs.TASK.serving_examples(data, config)
    assert examples["waveform"].dtype == np.float32 and examples["length"].dtype == np.int32
    signatures = cs.TASK.serving_signatures(model, data, config)
    path = export_saved_model(model, signatures, tmp_path / "m", {}, serving_examples=examples)
    loaded = tf.saved_model.load(str(path))
    assert set(loaded.signatures) == {"serving_default", "step", "initial_state"}
    serve = loaded.signatures["serving_default"]
    out = serve(waveform=tf.constant(examples["waveform"]), length=tf.constant(examples["length"]))
    batch, width = examples["waveform"].shape
    assert out["text"].shape == (batch,) and out["logits"].shape == (batch, -(-(width // 80) // 2), 11)
    np.testing.assert_array_equal(out["frame_lengths"], -(-(examples["length"] // 80) // 2))
    empty = loaded.signatures["serving_default"](waveform=tf.zeros([1, 0]), length=tf.constant([0]))
    assert empty["text"].numpy().tolist() == [b""]

    state = loaded.signatures["initial_state"](batch_size=tf.constant(1))["state"]
    waveform = examples["waveform"][:1, :3200]
    full = loaded.signatures["serving_default"](waveform=tf.constant(waveform), length=tf.constant([3200]))["logits"]
    steps = []
    for start in range(0, 3200, 800):
        out = loaded.signatures["step"](audio=tf.constant(waveform[:, start : start + 800]), state=state)
        state = out["state"]
        steps.append(out["logits"].numpy())
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full.numpy(), atol=1e-4)
    bidirectional, _ = tiny_model(bidirectional=True)
    assert set(cs.TASK.serving_signatures(bidirectional, data, config)) == {"serving_default"}


# ----------------------------------------------------------------- train.py


def test_train_py_end_to_end_on_synthetic_digits(tmp_path):
    train.main([
        "--task", "ctc_speech", "--data", "synthetic", "--epochs", "1", "--units", "8", "--num-layers", "1",
        "--conv-filters", "8", "--num-mel-bins", "16", "--train-utterances", "8", "--validation-utterances", "4",
        "--test-utterances", "4", "--batch-size", "4", "--quiet", "--output-dir", str(tmp_path / "runs"),
        "--export-dir", str(tmp_path / "sm"),
    ])
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"cer", "wer", "exact_match", "parameters", "train_seconds"} <= set(metrics)
    # The .keras file and the SavedModel hold the same model.
    served = tf.saved_model.load(str(tmp_path / "sm" / "ctc_speech-gru" / "1")).signatures["serving_default"]
    model = keras.saving.load_model(run_dir / "model.keras")
    waveform = np.random.default_rng(2).uniform(-0.2, 0.2, (2, 3000)).astype("float32")
    length = np.array([3000, 2000], "int32")
    expected = served(waveform=tf.constant(waveform), length=tf.constant(length))["logits"]
    np.testing.assert_allclose(model({"waveform": waveform, "length": length}), expected, atol=1e-5)
    # zoo.load in a fresh process, where nothing has imported the task module yet.
    script = f"import zoo; print(zoo.load({str(run_dir / 'model.keras')!r}).name)"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert loaded.stdout.strip() == "ctc_speech_gru", loaded.stderr[-2000:]


def test_unknown_speaker_and_alphabet_misuse_are_reported(tmp_path):
    clips = [cs.Clip(d, s, t, np.zeros(10, "float32")) for d in range(2) for s in ("ann", "bob") for t in range(10)]
    with pytest.raises(ValueError, match=r"--test-speakers \['eve'\]: not in the data; its speakers are \['ann', 'bob'\]"):
        cs.split_fsdd(clips, ["eve"])
    train_clips, validation, test = cs.split_fsdd(clips, ["bob"])
    assert {c.speaker for c in train_clips} == {"ann"} and {c.speaker for c in test} == {"bob"}
    assert {c.take for c in test} == set(range(10)) and {c.take for c in validation} == {5, 6, 7}
    assert {c.take for c in train_clips} == {8, 9}
    with pytest.raises(SystemExit, match="--alphabet is for --data wavs"):
        train.main(["--task", "ctc_speech", "--data", "synthetic", "--alphabet", "abc", "--output-dir", str(tmp_path)])


# ------------------------------------------------------------------- FSDD


def test_shared_fsdd_loads_and_splits_by_take_and_speaker():
    folder = require_data("fsdd")
    clips = cs.load_fsdd(folder)
    assert len(clips) == 2000 and {c.speaker for c in clips} == {"george", "jackson", "nicolas", "theo"}
    assert all(c.samples.dtype == np.float32 and 0 < np.abs(c.samples).max() <= 1 for c in clips)
    train_clips, validation, test = cs.split_fsdd(clips)
    assert (len(train_clips), len(validation), len(test)) == (1680, 120, 200)
    assert {c.take for c in test} == set(range(5))
    train_clips, validation, test = cs.split_fsdd(clips, ["theo"])
    assert len(test) == 500 and {c.speaker for c in test} == {"theo"}
    assert (len(train_clips), len(validation)) == (1260, 90) and "theo" not in {c.speaker for c in train_clips}
    assert cs.fsdd_is_available(folder) and not cs.fsdd_is_available(None)
