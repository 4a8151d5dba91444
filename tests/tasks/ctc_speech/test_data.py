"""tasks.ctc_speech.data: FSDD recordings and transcribed WAV folders, and their errors."""

import numpy as np
import pytest

from tasks.ctc_speech import data as speech_data
from tests.conftest import SPEECH_RATE, require_data, tone, write_wav


# ---------------------------------------------------------------- speech files


def write_folder(tmp_path, rows, test_rows=None):
    for split, table in (("train", rows), ("test", test_rows or rows[:1])):
        (tmp_path / f"{split}.csv").write_text("file,transcript\n" + "".join(f"{f},{t}\n" for f, t in table))


def test_wav_folder_resamples_averages_and_names_bad_rows(tmp_path, capsys):
    write_wav(tmp_path / "a.wav", np.stack([tone(1.0, rate=16000)] * 2, 1), 16000, sample_width=3)
    write_wav(tmp_path / "quiet.wav", np.zeros(4000), SPEECH_RATE, sample_width=1)
    write_folder(tmp_path, [("a.wav", "1 2 3"), ("quiet.wav", "")])
    train_set, test_set = speech_data.load_transcribed_wavs(tmp_path, "0123456789", 30.0, 2)
    assert [u.labels.tolist() for u in train_set] == [[1, 2, 3], []] and len(train_set[0].waveform) == SPEECH_RATE
    assert "resampled 2 WAV file(s) at [16000] Hz to 8000 Hz (first: " in capsys.readouterr().out

    write_folder(tmp_path, [("a.wav", "12x")])
    with pytest.raises(ValueError, match=r"train.csv, row 2: transcript '12x' has 'x'"):
        speech_data.load_transcribed_wavs(tmp_path, "0123456789", 30.0, 2)
    write_folder(tmp_path, [("missing.wav", "1")])
    with pytest.raises(ValueError, match=r"train.csv, row 2: no WAV file .*missing.wav"):
        speech_data.load_transcribed_wavs(tmp_path, "0123456789", 30.0, 2)
    write_folder(tmp_path, [("a.wav", "1")])
    with pytest.raises(ValueError, match=r"a.wav: 1.0 s of audio, longer than --max-seconds 0.5"):
        speech_data.load_transcribed_wavs(tmp_path, "0123456789", 0.5, 2)
    write_folder(tmp_path, [("a.wav", "1" * 60)])
    with pytest.raises(ValueError, match=r"a.wav: 1.00 s gives 50 output frames, too few for the 60 symbols .*CTC needs 119"):
        speech_data.load_transcribed_wavs(tmp_path, "0123456789", 30.0, 2)
    with pytest.raises(ValueError, match=r"--data wavs needs --data-dir, a folder with train.csv and test.csv"):
        speech_data.load_transcribed_wavs(None, "0123456789", 30.0, 2)


def test_fsdd_folders_without_recordings_are_reported(tmp_path):
    with pytest.raises(ValueError, match=r"--data fsdd needs --data-dir, a folder with recordings.tar.gz"):
        speech_data.load_fsdd(None)
    with pytest.raises(ValueError, match=r"no FSDD recordings \({digit}_{speaker}_{take}.wav\) in a recordings/ folder"):
        speech_data.load_fsdd(tmp_path)
    assert not speech_data.fsdd_is_available(tmp_path)
    (tmp_path / "recordings.tar.gz").write_bytes(b"not an archive")
    assert speech_data.fsdd_is_available(tmp_path)
    with pytest.raises(ValueError, match=r"recordings.tar.gz: not a readable tar.gz archive"):
        speech_data.load_fsdd(tmp_path)


def test_fsdd_wav_folder_loads_at_the_rate_asked(tmp_path, capsys):
    (tmp_path / "recordings").mkdir()
    write_wav(tmp_path / "recordings" / "3_ann_12.wav", tone(0.5, rate=16000), 16000)
    write_wav(tmp_path / "recordings" / "notes.wav", tone(0.1), SPEECH_RATE)  # not an FSDD name
    (clip,) = speech_data.load_fsdd(tmp_path)
    assert (clip.digit, clip.speaker, clip.take, len(clip.samples)) == (3, "ann", 12, 4000)
    assert "resampled 1 WAV file(s) at [16000] Hz to 8000 Hz" in capsys.readouterr().out
    assert speech_data.fsdd_is_available(tmp_path)


def test_fsdd_splits_hold_out_test_speakers_and_report_unknown_ones():
    clips = [speech_data.Clip(d, s, t, np.zeros(10, "float32")) for d in range(2) for s in ("ann", "bob") for t in range(10)]
    with pytest.raises(ValueError, match=r"--test-speakers \['eve'\]: not in the data; its speakers are \['ann', 'bob'\]"):
        speech_data.split_fsdd(clips, ["eve"])
    train_clips, validation, test = speech_data.split_fsdd(clips, ["bob"])
    assert {c.speaker for c in train_clips} == {"ann"} and {c.speaker for c in test} == {"bob"}
    assert {c.take for c in test} == set(range(10)) and {c.take for c in validation} == {5, 6, 7}
    assert {c.take for c in train_clips} == {8, 9}
    with pytest.raises(ValueError, match=r"--test-speakers holds out every speaker \['ann', 'bob'\]"):
        speech_data.split_fsdd(clips, ["ann", "bob"])


def test_every_take_of_the_named_speakers_or_of_all():
    clips = [speech_data.Clip(d, s, t, np.zeros(10, "float32")) for d in range(2) for s in ("ann", "bob") for t in range(10)]
    assert speech_data.fsdd_every_take(clips) == clips
    assert speech_data.fsdd_every_take(clips, ["bob"]) == [c for c in clips if c.speaker == "bob"]
    with pytest.raises(ValueError, match=r"--test-speakers \['eve'\]: not in the data"):
        speech_data.fsdd_every_take(clips, ["eve"])


def test_shared_fsdd_loads_and_splits_by_take_and_speaker():
    folder = require_data("fsdd")
    clips = speech_data.load_fsdd(folder)
    assert len(clips) == 2000 and {c.speaker for c in clips} == {"george", "jackson", "nicolas", "theo"}
    assert all(c.samples.dtype == np.float32 and 0 < np.abs(c.samples).max() <= 1 for c in clips)
    train_clips, validation, test = speech_data.split_fsdd(clips)
    assert (len(train_clips), len(validation), len(test)) == (1680, 120, 200)
    assert {c.take for c in test} == set(range(5))
    train_clips, validation, test = speech_data.split_fsdd(clips, ["theo"])
    assert len(test) == 500 and {c.speaker for c in test} == {"theo"}
    assert (len(train_clips), len(validation)) == (1260, 90) and "theo" not in {c.speaker for c in train_clips}
    assert speech_data.fsdd_is_available(folder) and not speech_data.fsdd_is_available(None)
