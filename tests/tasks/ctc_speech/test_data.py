"""tasks.ctc_speech.data: FSDD recordings and transcribed WAV folders, and their errors."""

import tarfile

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


def write_speech_commands(folder, clips, table=None):
    """Clips `{(digit, speaker, n): samples}` in Speech Commands' layout, with its speakers table (or `table`)."""
    (folder / "recordings").mkdir(parents=True, exist_ok=True)
    counts = {}
    for (digit, speaker, n), (samples, rate) in clips.items():
        write_wav(folder / "recordings" / f"{digit}_{speaker}_{n}.wav", samples, rate)
        counts.setdefault(speaker, [0] * 10)[digit] += 1
    rows = [f"{speaker}," + ",".join(map(str, row)) + f",{sum(row)}" for speaker, row in sorted(counts.items())]
    (folder / "speakers.csv").write_text(table or "speaker,0,1,2,3,4,5,6,7,8,9,total\n" + "\n".join(rows) + "\n")


SPEAKERS = {(3, "0a1b2c3d", 0): (tone(1.0), SPEECH_RATE), (7, "0a1b2c3d", 1): (tone(1.0), SPEECH_RATE),
            (0, "ffee0011", 0): (tone(1.0, rate=16000), 16000)}


def test_speech_commands_clips_load_from_a_folder_or_an_archive_with_their_speakers(tmp_path, capsys):
    write_speech_commands(tmp_path / "folder", SPEAKERS)
    clips = speech_data.load_speech_commands(tmp_path / "folder")
    assert sorted((c.digit, c.speaker, c.take, len(c.samples)) for c in clips) == [
        (0, "ffee0011", 0, SPEECH_RATE), (3, "0a1b2c3d", 0, SPEECH_RATE), (7, "0a1b2c3d", 1, SPEECH_RATE)]
    assert "resampled 1 WAV file(s) at [16000] Hz to 8000 Hz" in capsys.readouterr().out
    with tarfile.open(tmp_path / "recordings.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "folder" / "recordings", arcname="recordings")
        tar.add(tmp_path / "folder" / "speakers.csv", arcname="speakers.csv")
    archived = speech_data.load_speech_commands(tmp_path)
    assert sorted((c.digit, c.speaker) for c in archived) == sorted((c.digit, c.speaker) for c in clips)


def test_speech_commands_files_that_disagree_with_their_table_are_named(tmp_path):
    write_speech_commands(tmp_path, SPEAKERS, table="speaker,0,1,2,3,4,5,6,7,8,9,total\n0a1b2c3d,0,0,0,1,0,0,0,1,0,0,2\n")
    with pytest.raises(ValueError, match=r"speakers.csv disagrees with the clips for speaker ffee0011: it lists "
                                         r"nothing clips of digits 0..9, the files hold \[1, 0, 0"):
        speech_data.load_speech_commands(tmp_path)
    (tmp_path / "speakers.csv").write_text("speaker,0,1,2,3,4,5,6,7,8,9,total\n0a1b2c3d,0,0,0,1,0,0,0,x,0,0,2\n")
    with pytest.raises(ValueError, match=r"speakers.csv, row 2: expected speaker,0,...,9,total with whole numbers"):
        speech_data.load_speech_commands(tmp_path)
    (tmp_path / "speakers.csv").unlink()
    with pytest.raises(ValueError, match=r"no speakers.csv \(speaker,0,1,...,9,total\) beside the clips"):
        speech_data.load_speech_commands(tmp_path)
    write_wav(tmp_path / "recordings" / "seven_0a1b2c3d_2.wav", tone(0.1), SPEECH_RATE)
    with pytest.raises(ValueError, match=r"seven_0a1b2c3d_2.wav: expected a name <digit>_<speaker>_<n>.wav"):
        speech_data.load_speech_commands(tmp_path)
    with pytest.raises(ValueError, match=r"no Speech Commands clips"):
        speech_data.load_speech_commands(tmp_path / "elsewhere")


def test_the_real_speech_commands_digits_hold_96_speakers():
    clips = speech_data.load_speech_commands(require_data("speech_commands_digits"))
    assert len(clips) == 196 and len({clip.speaker for clip in clips}) == 96
    assert np.bincount([clip.digit for clip in clips]).tolist() == [23, 19, 16, 19, 16, 19, 21, 14, 29, 20]
    assert {len(clip.samples) for clip in clips} == {SPEECH_RATE}  # one second each


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


def test_speaker_folds_hold_out_whole_speakers_the_same_whatever_the_seed():
    clips = [speech_data.Clip(d, f"{s:08x}", 0, np.zeros(4, "float32")) for s in range(11) for d in (s % 10, 3)]
    folds = [speech_data.speaker_folds(clips, 4, fold) for fold in range(4)]
    held_out = [{c.speaker for c in test} for _, test in folds]
    assert sorted(len(h) for h in held_out) == [2, 3, 3, 3] and set.union(*held_out) == {c.speaker for c in clips}
    for (train_clips, test), speakers in zip(folds, held_out):
        assert not {c.speaker for c in train_clips} & speakers and len(train_clips) + len(test) == len(clips)
    assert speech_data.speaker_folds(clips, 4, 2) == folds[2]  # fixed: no seed
    assert speech_data.speaker_folds(clips, 4, None) == (clips, [])
