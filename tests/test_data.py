"""zoo.data: readers for local data files and their errors."""

import gzip

import numpy as np
import pytest

from tasks.ctc_speech import data as speech_data
from tasks.forecasting import data as series_data
from tasks.sentiment.data import imdb_is_available, load_imdb, load_labelled_csv
from tests.conftest import SPEECH_RATE, require_data, tone, write_wav
from zoo import data

# ------------------------------------------------------------- series files


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_wide_csv_with_header_and_right_padding(tmp_path):
    path = write(tmp_path / "train.csv", '"V1","V2","V3","V4"\n"A","1","2","3"\n"B","4","5",""\n')
    series = series_data.read_wide(path)
    assert list(series) == ["A", "B"]
    np.testing.assert_array_equal(series["B"][0], [4.0, 5.0])


def test_long_csv_is_sorted_by_time(tmp_path):
    path = write(
        tmp_path / "series.csv",
        "id,timestamp,value\nA,2024-01-02,2\nA,2024-01-01,1\nB,3,30\nA,2024-01-03,3\nB,1,10\n",
    )
    series = series_data.read_series_file(path, "id", "timestamp", "value")
    np.testing.assert_array_equal(series["A"][0], [1, 2, 3])
    np.testing.assert_array_equal(series["B"][0], [10, 30])


@pytest.mark.parametrize(
    "text, message",
    [
        ("A,1,x,3\n", "line 1, column 3: 'x' is not a number"),
        ("A,1,2\nB,1,nan\n", "line 2, column 3: 'nan' is not a finite number"),
        ("A,1,inf,3\n", "line 1, column 3: 'inf' is not a finite number"),
        ("A,1,,3\n", "line 1, column 3: series 'A' has an empty value between values"),
        ("A,1,2\nA,3,4\n", "line 2: series 'A' appears twice"),
        ("A,,\n", "line 1: series 'A' has no values"),
        ("", "empty file"),
    ],
)
def test_bad_wide_files_name_file_line_and_column(tmp_path, text, message):
    path = write(tmp_path / "train.csv", text)
    with pytest.raises(ValueError, match=message) as error:
        series_data.read_wide(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("id,time,value\nA,1,2\n", r"no column\(s\) \['timestamp'\]; the header has \['id', 'time', 'value'\]"),
        ("id,timestamp,value\nA,1,2\nA,1,3\n", "series 'A' has repeated timestamps"),
        ("id,timestamp,value\nA,1\n", "line 2: 2 fields, the header has 3"),
    ],
)
def test_bad_long_files_are_named(tmp_path, text, message):
    path = write(tmp_path / "series.csv", text)
    with pytest.raises(ValueError, match=message) as error:
        series_data.read_long(path, "id", "timestamp", "value")
    assert str(path) in str(error.value)


def test_short_series_and_missing_test_rows_are_named(tmp_path):
    train = {"A": (np.arange(10.0), 2), "B": (np.arange(3.0), 3)}
    with pytest.raises(ValueError, match=r"train.csv, line 3: series 'B' has 1 in-sample value\(s\) before its 2-step test"):
        series_data.split_series(train, None, 2, 1, tmp_path / "train.csv")
    with pytest.raises(ValueError, match="test.csv: no row for series 'B'"):
        series_data.split_series(train, {"A": (np.ones(2), 2)}, 2, 1, "train.csv", "test.csv")


def test_series_given_in_memory_are_checked_for_non_finite_values():
    with pytest.raises(ValueError, match="mine, line 4: series 'A' has NaN or inf values"):
        series_data.split_series({"A": (np.array([1.0, np.nan, 2.0, 3.0]), 4)}, None, 1, 1, "mine")


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


# ------------------------------------------------------- labelled text files


def test_csv_folder_with_three_classes_and_gzip(tmp_path):
    write(tmp_path / "train.csv", 'text,label\n"good, really",pos\nbad,neg\nmeh,neutral\n')
    with gzip.open(tmp_path / "test.tsv.gz", "wt") as handle:
        handle.write("text\tlabel\nfine\tpos\n")
    train_rows, test_rows, classes = load_labelled_csv(tmp_path, "text", "label")
    assert classes == ["neg", "neutral", "pos"]
    assert train_rows == [("good, really", 2), ("bad", 0), ("meh", 1)]
    assert test_rows == [("fine", 2)]


def test_numeric_labels_sort_numerically(tmp_path):
    write(tmp_path / "train.csv", "review,stars\na,10\nb,2\nc,1\n")
    write(tmp_path / "test.csv", "review,stars\nd,2\n")
    _, _, classes = load_labelled_csv(tmp_path, "review", "stars")
    assert classes == ["1", "2", "10"]


@pytest.mark.parametrize("content, message", [
    ("", r"train.csv: empty file; expected a header with columns \['text', 'label'\]"),
    ("text,stars\na,1\n", r"train.csv: no column\(s\) \['label'\]; the header has \['text', 'stars'\]"),
    ("text,label\n", "train.csv: header only, no data rows"),
    ("text,label\na\n", "train.csv, row 2: too few fields"),
    ("text,label\na,1\nb,1\n", "column 'label' has one label"),
    (b"text,label\na,1\n\xff\xfe bad,0\n", "train.csv, line 3: bytes that are not UTF-8"),
])
def test_bad_training_files_are_named(tmp_path, content, message):
    write(tmp_path / "train.csv", content)
    write(tmp_path / "test.csv", "text,label\na,1\n")
    with pytest.raises(ValueError, match=message):
        load_labelled_csv(tmp_path, "text", "label")


def test_unknown_test_label_names_file_row_and_column(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,pos\nb,neg\n")
    write(tmp_path / "test.csv", "text,label\nc,pos\nd,mixed\n")
    with pytest.raises(ValueError, match=r"test.csv, row 3: label 'mixed' in column 'label' is not one of"):
        load_labelled_csv(tmp_path, "text", "label")


def test_missing_folder_files_are_listed(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train file in .*train.csv, train.tsv"):
        load_labelled_csv(tmp_path, "text", "label")


def test_aclimdb_layout(tmp_path):
    for split in ("train", "test"):
        for folder, text in (("pos", "loved it"), ("neg", "hated it")):
            (tmp_path / "aclImdb" / split / folder).mkdir(parents=True)
            write(tmp_path / "aclImdb" / split / folder / "0_9.txt", text)
    assert imdb_is_available(tmp_path)
    train_rows, test_rows = load_imdb(tmp_path)
    assert sorted(train_rows) == [("hated it", 0), ("loved it", 1)]
    assert len(test_rows) == 2


def test_shared_imdb_csv_has_official_split():
    folder = require_data("imdb")
    train_rows, test_rows = load_imdb(folder)
    assert len(train_rows) == len(test_rows) == 25000
    assert sum(label for _, label in train_rows) == sum(label for _, label in test_rows) == 12500
    assert all(isinstance(text, str) and text for text, _ in train_rows[:100])


def test_a_truncated_gzip_file_is_named(tmp_path):
    path = tmp_path / "train.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("text,label\n" + "a fine film,1\n" * 2000)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=rf"{path}: cannot read \(.*"):
        data.read_table(path, ["text", "label"])


def test_labels_written_two_ways_and_empty_texts_are_refused(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,1\nb,1.0\nc,pos\nd,Positive\ne,0\n")
    write(tmp_path / "test.csv", "text,label\na,1\n")
    with pytest.raises(ValueError, match=r"train.csv: labels in column 'label' that look like one class written "
                                         r"two ways: '1' and '1.0'; 'Positive' and 'pos'. Write each class one way."):
        load_labelled_csv(tmp_path, "text", "label")
    write(tmp_path / "train.csv", "text,label\n ,1\n,0\n")
    with pytest.raises(ValueError, match=r"train.csv: every text in column 'text' is empty"):
        load_labelled_csv(tmp_path, "text", "label")
