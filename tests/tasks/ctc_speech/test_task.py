"""The CTC speech task: its data, model, training, evaluation and export."""

import io
import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import soundfile
import tensorflow as tf
from scipy import signal

import train
from tests.conftest import REPO, write_wav
from zoo.export import export_saved_model
from zoo.task import get_task, resolve_config

TASK = get_task("ctc_speech")
TINY = {"units": 8, "num_layers": 1, "conv_filters": 8, "num_mel_bins": 16, "beam_width": 4, "subsampling": 2}


def tiny_model(**overrides):
    config = TASK.resolve(resolve_config(TASK, **{**TINY, **overrides}))
    return TASK.build_model(config), config


# ---------------------------------------------------------------------- data


def test_default_data_is_synthetic_with_a_notice(capsys, tmp_path):
    data = TASK.build_inputs(
        resolve_config(TASK, data_dir=str(tmp_path), train_utterances=4, validation_utterances=2,
                       test_utterances=3, batch_size=2)
    )
    assert "no FSDD in --data-dir, using synthetic spoken digits (for FSDD: --data fsdd" in capsys.readouterr().out
    assert data.info["source"] == "synthetic" and int(data.test.cardinality()) == 2
    inputs, labels = next(iter(data.test))
    assert inputs["waveform"].shape[0] == 2 and labels.dtype == tf.int32
    for row, length in zip(labels.numpy(), inputs["length"].numpy()):
        valid = row >= 0  # digits first, then -1 padding
        assert valid[0] and np.array_equal(valid, np.sort(valid)[::-1])
        assert length <= inputs["waveform"].shape[1]


def test_unknown_data_and_alphabet_misuse_are_reported(tmp_path):
    config = resolve_config(TASK, data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"--data 'mp3': choose fsdd, wavs or synthetic"):
        TASK.build_inputs({**config, "data": "mp3"})
    with pytest.raises(ValueError, match=r"--alphabet 'aa': needs one or more distinct characters"):
        TASK.build_inputs({**config, "data": "wavs", "alphabet": "aa"})
    with pytest.raises(SystemExit, match="--alphabet is for --data wavs"):
        train.main(["--task", "ctc_speech", "--data", "synthetic", "--alphabet", "abc", "--output-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"--cepstra 20: at most --num-mel-bins \(16\)"):
        train.main(["--task", "ctc_speech", "--data", "synthetic", "--num-mel-bins", "16", "--cepstra", "20",
                    "--output-dir", str(tmp_path)])
    assert not any(tmp_path.iterdir())  # refused before a run folder was made


def test_wav_folder_source_holds_out_a_validation_fraction(tmp_path, capsys):
    rows = []
    for i in range(6):
        write_wav(tmp_path / f"{i}.wav", np.full(800 * (i + 1), 0.1), 8000)
        rows.append(f"{i}.wav,{i}\n")
    (tmp_path / "train.csv").write_text("file,transcript\n" + "".join(rows[:5]))
    (tmp_path / "test.csv").write_text("file,transcript\n" + rows[5])
    config = resolve_config(TASK, data="wavs", data_dir=str(tmp_path), validation_fraction=0.4, batch_size=2)
    data = TASK.build_inputs(config)
    assert data.description == f"ctc_speech data: WAV files from {tmp_path}, 3 train / 2 validation / 1 test utterances"
    assert data.info["sizes"] == [3, 2, 1] and data.info["source"] == "wavs"
    validation = sorted(int(length) for inputs, _ in data.validation for length in inputs["length"].numpy())
    train_lengths = sorted(int(length) for inputs, _ in data.train for length in inputs["length"].numpy())
    assert sorted(validation + train_lengths) == [800 * (i + 1) for i in range(5)]
    assert TASK.resolve(config, data)["data"] == "wavs"


# --------------------------------------------------------- model and training


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
    config = resolve_config(TASK, **TINY, train_utterances=8, validation_utterances=4, test_utterances=4,
                            batch_size=4, data="synthetic")
    data = TASK.build_inputs(config)
    config = TASK.resolve(config, data)
    model = TASK.build_model(config, data)
    model.compile(optimizer="adam", loss=TASK.build_losses(config), metrics=TASK.build_metrics(config))
    history = model.fit(data.train, validation_data=data.validation, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0]) and np.isfinite(history.history["val_loss"][0])
    assert 0 <= history.history["val_cer"][0]
    prior = model.get_layer("log_mel").prior_mean.numpy()
    assert np.all(prior != 0)  # adapted to the training data
    metrics = TASK.evaluate(model, data, config)
    assert {"cer", "wer", "exact_match", "greedy_cer"} <= set(metrics) and metrics["test_utterances"] == 4


# -------------------------------------------------------------------- export


def test_export_signatures(tmp_path):
    model, config = tiny_model(bidirectional=False)
    data = TASK.build_inputs({**config, "data": "synthetic", "train_utterances": 4,
                              "validation_utterances": 2, "test_utterances": 5, "batch_size": 5})
    examples = TASK.serving_examples(data, config)
    assert examples["waveform"].dtype == np.float32 and examples["length"].dtype == np.int32
    signatures = TASK.serving_signatures(model, data, config)
    path = export_saved_model(model, signatures, tmp_path / "m", {}, serving_examples=examples)
    loaded = tf.saved_model.load(str(path))
    assert set(loaded.signatures) == {"serving_default", "wav", "step", "initial_state"}
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
    assert set(TASK.serving_signatures(bidirectional, data, config)) == {"serving_default", "wav"}


def wav_bytes(samples, rate):
    """16-bit PCM WAV file bytes of float samples ((n,) or (n, channels))."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_the_wav_signature_takes_encoded_files_at_any_rate_as_the_waveform_signature_takes_samples(tmp_path):
    """A 16-bit WAV at 8 kHz answers as its samples do; a 16 kHz stereo one as its channels' mean
    resampled (scipy.signal.resample) does; rows of different lengths are padded; a text that is not a
    WAV file is refused with TensorFlow's message."""
    model, config = tiny_model(bidirectional=False)
    data = TASK.build_inputs({**config, "data": "synthetic", "train_utterances": 4,
                              "validation_utterances": 2, "test_utterances": 3, "batch_size": 3})
    path = export_saved_model(model, TASK.serving_signatures(model, data, config), tmp_path / "m", {},
                              serving_examples=TASK.serving_examples(data, config))
    loaded = tf.saved_model.load(str(path))
    rng = np.random.default_rng(0)
    at_8k = np.round(rng.uniform(-0.3, 0.3, 2400) * 32768) / 32768  # exactly representable in 16 bits
    stereo_16k = np.round(rng.uniform(-0.3, 0.3, (6000, 2)) * 32768) / 32768
    out = loaded.signatures["wav"](wav=tf.constant([wav_bytes(at_8k, 8000), wav_bytes(stereo_16k, 16000)]))
    resampled = signal.resample(stereo_16k.mean(axis=1), 3000)
    waveform = np.zeros((2, 3000), "float32")
    waveform[0, :2400], waveform[1] = at_8k, resampled
    expected = loaded.signatures["serving_default"](waveform=tf.constant(waveform), length=tf.constant([2400, 3000]))
    np.testing.assert_array_equal(out["frame_lengths"], expected["frame_lengths"])
    np.testing.assert_allclose(out["logits"], expected["logits"], atol=1e-4)
    nothing = loaded.signatures["wav"](wav=tf.constant([wav_bytes(np.zeros(0), 8000)]))  # an empty recording
    assert nothing["text"].numpy().tolist() == [b""] and nothing["frame_lengths"].numpy().tolist() == [0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="Header mismatch"):
        loaded.signatures["wav"](wav=tf.constant([b"not a wav file at all, no RIFF header here" * 2]))


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


# ------------------------------------------------------------------ synthetic voices


def tiny_fsdd(folder, speakers=("ann", "bob"), takes=10):
    """An FSDD-shaped folder (`recordings/<digit>_<speaker>_<take>.wav`) of formant-voiced digits."""
    from tasks.ctc_speech.utterances import random_voice, synthetic_digit

    (folder / "recordings").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for speaker in speakers:
        voice = random_voice(rng)
        for digit in range(10):
            for take in range(takes):
                write_wav(folder / "recordings" / f"{digit}_{speaker}_{take}.wav", synthetic_digit(digit, voice, rng),
                          8000)
    return folder


def test_train_py_trains_on_recorded_and_synthetic_voices(tmp_path):
    train.main([
        "--task", "ctc_speech", "--data", "fsdd", "--data-dir", str(tiny_fsdd(tmp_path / "fsdd")),
        "--synthetic-voices", "30", "--synthetic-share", "0.5", "--channel-share", "0.5", "--epochs", "1",
        "--units", "8", "--num-layers", "1",
        "--conv-filters", "8", "--num-mel-bins", "16", "--train-utterances", "16", "--validation-utterances", "4",
        "--test-utterances", "4", "--batch-size", "8", "--quiet", "--output-dir", str(tmp_path / "runs"),
        "--export-dir", str(tmp_path / "sm"),
    ])
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "cer" in json.loads((run_dir / "metrics.json").read_text())
    voices = json.loads((tmp_path / "sm" / "ctc_speech-gru" / "1" / "assets.extra" / "zoo_metadata.json")
                        .read_text())["data"]["synthetic_voices"]
    assert voices["count"] == 30 and voices["share"] == 0.5 and voices["engine"] in ("espeak", "formant")


def test_synthetic_voices_alone_train_and_validate_and_every_real_take_tests(tmp_path):
    config = resolve_config(TASK, data="fsdd", data_dir=str(tiny_fsdd(tmp_path / "fsdd", takes=3)),
                            synthetic_voices=4, synthetic_share=1.0, tts="formant", train_utterances=4,
                            validation_utterances=2, test_utterances=6, batch_size=2)
    data = TASK.build_inputs(config)
    assert data.info["train_speakers"] == [] and data.info["test_speakers"] == ["ann", "bob"]
    assert data.info["clips"] == [0, 0, 2 * 10 * 3]  # every take of both, none trains or validates
    assert "training only by 4 synthetic voices (formant), validation by 50 others" in data.description
    held_out = TASK.build_inputs({**config, "test_speakers": "bob"}).info
    assert held_out["test_speakers"] == ["bob"] and held_out["clips"] == [0, 0, 30]


def test_synthetic_voices_validate_in_their_share_with_voices_they_never_trained_on(tmp_path, monkeypatch):
    import tasks.ctc_speech.splits as ctc_speech

    mixes, mixed = [], ctc_speech.MixedSpeakers
    monkeypatch.setattr(ctc_speech, "MixedSpeakers", lambda *args: mixes.append(args) or mixed(*args))
    config = resolve_config(TASK, data="fsdd", data_dir=str(tiny_fsdd(tmp_path / "fsdd", takes=9)),
                            synthetic_voices=4, synthetic_share=0.25, tts="formant", train_utterances=4,
                            validation_utterances=4, test_utterances=2, batch_size=2)
    data = TASK.build_inputs(config)
    assert "validation by 50 others in the same share" in data.description
    (_, trained, train_share), (recorded, unheard, validation_share) = mixes
    assert train_share == validation_share == 0.25 and recorded.speakers == ["ann", "bob"]
    assert trained.count == 4 and unheard.count == 50
    assert not set(map(repr, trained.formant_voices)) & set(map(repr, unheard.formant_voices))


@pytest.mark.parametrize("arguments, message", [
    (["--data", "synthetic", "--synthetic-voices", "10"], "--synthetic-voices adds voices to the recorded ones: it "
                                                           "is for --data fsdd, not --data synthetic"),
    (["--synthetic-share", "1.5"], r"--synthetic-share 1.5: must be in \[0, 1\]"),
    (["--tts", "festival"], "--tts: invalid choice: 'festival'"),
    (["--channel-share", "-0.1"], r"--channel-share -0.1: must be in \[0, 1\]"),
    (["--data", "synthetic", "--synthetic-share", "0.7"], "--synthetic-share 0.7 is the share of utterances said by "
                                                          "--synthetic-voices N; without voices it would do nothing"),
])
def test_bad_synthetic_voice_settings_are_refused_before_training(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        train.main(["--task", "ctc_speech", *arguments, "--output-dir", str(tmp_path / "runs")])
    assert re.search(message, str(error.value) + capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------ Speech Commands voices


def tiny_speech_commands(folder, speakers=10):
    """A Speech Commands-shaped folder: `speakers` formant voices saying two digits each, 1 s clips
    with silence around the word, and speakers.csv."""
    from tasks.ctc_speech.utterances import random_voice, synthetic_digit

    (folder / "recordings").mkdir(parents=True)
    rng, rows = np.random.default_rng(1), []
    for index in range(speakers):
        speaker, counts = f"{index:08x}", [0] * 10
        voice = random_voice(rng)
        for digit in (index % 10, (index + 5) % 10):
            clip = np.zeros(8000)
            word = synthetic_digit(digit, voice, rng)[:6000]
            clip[1000:1000 + len(word)] = word
            write_wav(folder / "recordings" / f"{digit}_{speaker}_0.wav", clip, 8000)
            counts[digit] += 1
        rows.append(f"{speaker}," + ",".join(map(str, counts)) + ",2")
    (folder / "speakers.csv").write_text("speaker,0,1,2,3,4,5,6,7,8,9,total\n" + "\n".join(rows) + "\n")
    return folder


def test_speech_commands_voices_join_training_and_a_fold_of_them_is_the_isolated_test(tmp_path, monkeypatch, capsys):
    import tasks.ctc_speech.splits as ctc_speech

    mixes, mixed = [], ctc_speech.MixedSpeakers
    monkeypatch.setattr(ctc_speech, "MixedSpeakers", lambda *args: mixes.append(args) or mixed(*args))
    config = resolve_config(TASK, data="fsdd", data_dir=str(tiny_fsdd(tmp_path / "fsdd", takes=9)),
                            speech_commands_dir=str(tiny_speech_commands(tmp_path / "sc", speakers=20)),
                            speech_commands_share=0.4, speech_commands_folds=4, speech_commands_fold="1",
                            train_utterances=4, validation_utterances=2, test_utterances=2, batch_size=2, **TINY)
    data = TASK.build_inputs(config)
    (recorded, pool, share), = mixes
    assert share == 0.4 and recorded.speakers == ["ann", "bob"] and len(pool.speakers) == 15
    isolated = data.reference["isolated"]
    assert data.info["speech_commands"] == {"train_speakers": 15, "train_clips": 30, "share": 0.4, "fold": 1,
                                            "folds": 4, "test_speakers": 5, "test_clips": 10}
    assert len(isolated) == 10 and all(len(u.waveform) == 8000 and len(u.labels) == 1 for u in isolated)
    assert max(len(word) for words in pool.words.values() for word in words) < 7000  # the silence trimmed
    model = TASK.build_model(TASK.resolve(config, data), data)
    metrics = TASK.evaluate(model, data, TASK.resolve(config, data))
    assert metrics["isolated_clips"] == 10 and 0 <= metrics["isolated_accuracy"] <= 1
    silent = tmp_path / "sc" / "recordings" / "1_00000000_1.wav"  # a clip that holds no word does not train
    write_wav(silent, np.zeros(8000), 8000)
    table = tmp_path / "sc" / "speakers.csv"
    table.write_text(table.read_text().replace("00000000,1,0,0,0,0,1,0,0,0,0,2", "00000000,1,1,0,0,0,1,0,0,0,0,3"))
    capsys.readouterr()
    every_voice = TASK.build_inputs({**config, "speech_commands_fold": "none"})
    assert every_voice.info["speech_commands"]["train_speakers"] == 20 and not every_voice.reference["isolated"]
    assert every_voice.info["speech_commands"]["train_clips"] == 40
    assert ("1 Speech Commands clip(s) hold no word (empty, or quieter than -60 dBFS) and are left out: "
            "1_00000000_1.wav") in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["--data", "synthetic", "--speech-commands-dir", "x"], "--speech-commands-dir adds voices to FSDD's: it is for "
                                                            "--data fsdd, not --data synthetic"),
    (["--data", "synthetic", "--speech-commands-share", "0.5"], "--speech-commands-share 0.5 is the share of "
                                                                "utterances said by the --speech-commands-dir voices"),
    (["--speech-commands-fold", "7"], r"--speech-commands-fold 7: give 0 .. 4, or none"),
    (["--speech-commands-fold", "first"], r"--speech-commands-fold 'first': give a fold number or none"),
    (["--speech-commands-folds", "1"], r"--speech-commands-folds 1: give 2 or more"),
])
def test_bad_speech_commands_settings_are_refused_before_training(arguments, message, tmp_path, capsys):
    fsdd = tiny_fsdd(tmp_path / "fsdd", takes=9)
    speech_commands = tiny_speech_commands(tmp_path / "sc")
    defaults = [] if "--data" in arguments else ["--data", "fsdd", "--data-dir", str(fsdd), "--speech-commands-dir",
                                                 str(speech_commands)]
    with pytest.raises(SystemExit) as error:
        train.main(["--task", "ctc_speech", *defaults, *arguments, "--output-dir", str(tmp_path / "runs")])
    assert re.search(message, str(error.value) + capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()
