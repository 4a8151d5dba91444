"""Readers for local data files, with errors that name the file, row and column."""

import csv
import dataclasses
import gzip
import io
import math
import pathlib
import random
import re
import sys
import tarfile
from typing import NamedTuple

import numpy as np

from zoo.audio import load_wav
from zoo.ctc import encode_text, min_frames

TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")


def find_table(folder, stem):
    """`folder/stem.csv`, `.tsv`, or either gzipped; a clear error if none is there."""
    folder = pathlib.Path(folder)
    for suffix in TABLE_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(
        f"no {stem} file in {folder}: expected one of "
        + ", ".join(f"{stem}{s}" for s in TABLE_SUFFIXES)
    )


def read_text(path):
    """The text of a (optionally gzipped) file; errors name the file and line."""
    path = pathlib.Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:  # EOFError: a truncated .gz
        raise ValueError(f"{path}: cannot read ({error or type(error).__name__})") from error
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{path}, line {line}: bytes that are not UTF-8 ({raw[error.start:error.start + 4]!r}); "
            "re-save the file as UTF-8."
        ) from error


def _delimiter(path):
    return "\t" if ".tsv" in pathlib.Path(path).name else ","


def read_rows(path):
    """(line number, fields) for each non-empty row of a CSV/TSV file, header included."""
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=_delimiter(path))
    rows = [(reader.line_num, row) for row in reader if row]
    if not rows:
        raise ValueError(f"{path}: empty file.")
    return rows


def read_table(path, columns):
    """Rows of a CSV/TSV file (optionally gzipped) as dicts holding `columns`.

    Raises ValueError naming the file (and row) for an empty file, a missing
    column, a short row or bytes that are not UTF-8.
    """
    path = pathlib.Path(path)
    csv.field_size_limit(sys.maxsize)
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""), delimiter=_delimiter(path))
    if not reader.fieldnames:
        raise ValueError(f"{path}: empty file; expected a header with columns {list(columns)}.")
    missing = [c for c in columns if c not in reader.fieldnames]
    if missing:
        raise ValueError(
            f"{path}: no column(s) {missing}; the header has {reader.fieldnames}."
        )
    rows = []
    for row in reader:
        if any(row[c] is None for c in columns):
            raise ValueError(
                f"{path}, row {reader.line_num}: too few fields for columns {list(columns)}."
            )
        rows.append({c: row[c] for c in columns})
    if not rows:
        raise ValueError(f"{path}: header only, no data rows.")
    return rows


# ---------------------------------------------------------------- series files
# Time series in CSV/TSV files: wide (one series per row) or long (id, time, value rows),
# read into `{id: (values, line)}` dicts and split into in-sample values and the
# values to forecast. Errors name the file, line and column.


@dataclasses.dataclass
class SeriesSet:
    """Series with their in-sample values and the `horizon` values to forecast."""

    names: list
    insamples: list  # float64 arrays of varying length
    actuals: np.ndarray  # (series, horizon)
    horizon: int
    seasonality: int


def _parse_value(text, path, line, column):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}, line {line}, column {column}: {text!r} is not a number.") from None
    if not math.isfinite(value):
        raise ValueError(
            f"{path}, line {line}, column {column}: {text!r} is not a finite number; "
            "drop or fill missing values before training."
        )
    return value


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_wide(path):
    """`{id: (values, line)}` from a file with one series per row: id, v1, v2, ...

    A header row is recognised by non-numeric value fields (M4's `"V1","V2",...`).
    Trailing empty fields are padding; an empty field between values is an error.
    """
    rows = read_rows(path)
    first_value = rows[0][1][1].strip() if len(rows[0][1]) > 1 else ""
    if first_value and not _is_number(first_value):
        rows = rows[1:]
        if not rows:
            raise ValueError(f"{path}: header only, no series.")
    series = {}
    for line, fields in rows:
        name, cells = fields[0].strip(), fields[1:]
        while cells and not cells[-1].strip():
            cells.pop()
        if not cells:
            raise ValueError(f"{path}, line {line}: series {name!r} has no values.")
        if name in series:
            raise ValueError(f"{path}, line {line}: series {name!r} appears twice.")
        values = []
        for column, cell in enumerate(cells, start=2):
            if not cell.strip():
                raise ValueError(
                    f"{path}, line {line}, column {column}: series {name!r} has an empty value "
                    "between values; fill or drop the gap."
                )
            values.append(_parse_value(cell, path, line, column))
        series[name] = (np.array(values), line)
    return series


def read_long(path, id_column, time_column, value_column):
    """`{id: (values, first line)}` from rows `id, timestamp, value`, sorted by time."""
    rows = read_rows(path)
    header = [field.strip() for field in rows[0][1]]
    missing = [c for c in (id_column, time_column, value_column) if c not in header]
    if missing:
        raise ValueError(f"{path}: no column(s) {missing}; the header has {header}.")
    columns = [header.index(c) for c in (id_column, time_column, value_column)]
    grouped = {}
    for line, fields in rows[1:]:
        if len(fields) <= max(columns):
            raise ValueError(f"{path}, line {line}: {len(fields)} fields, the header has {len(header)}.")
        name, time, value = (fields[c].strip() for c in columns)
        value = _parse_value(value, path, line, value_column)
        grouped.setdefault(name, []).append((time, value, line))
    numeric_times = all(_is_number(t) for points in grouped.values() for t, _, _ in points)
    series = {}
    for name, points in grouped.items():
        points.sort(key=lambda point: float(point[0]) if numeric_times else point[0])
        times = [t for t, _, _ in points]
        if len(set(times)) != len(times):
            raise ValueError(f"{path}: series {name!r} has repeated timestamps.")
        series[name] = (np.array([v for _, v, _ in points]), points[0][2])
    if not series:
        raise ValueError(f"{path}: header only, no data rows.")
    return series


def read_series_file(path, id_column, time_column, value_column):
    """Long when the header has all three columns, else wide (see `read_long`, `read_wide`)."""
    header = [field.strip() for field in read_rows(path)[0][1]]
    if {id_column, time_column, value_column} <= set(header):
        return read_long(path, id_column, time_column, value_column)
    return read_wide(path)


def split_series(train, test, horizon, seasonality, train_path, test_path=None):
    """A SeriesSet from `{id: (values, line)}` dicts; without `test`, the last H values."""
    names, insamples, actuals = [], [], []
    for name, (values, line) in train.items():
        where = f"{train_path}, line {line}"
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{where}: series {name!r} has NaN or inf values.")
        if test is None:
            values, future = values[:-horizon], values[-horizon:]
        else:
            if name not in test:
                raise ValueError(f"{test_path}: no row for series {name!r} (in {where}).")
            future, test_line = test[name]
            if len(future) < horizon:
                raise ValueError(
                    f"{test_path}, line {test_line}: series {name!r} has {len(future)} test values; need {horizon}."
                )
            future = future[:horizon]
        if len(values) < 2:
            raise ValueError(
                f"{where}: series {name!r} has {len(values)} in-sample value(s) before its "
                f"{horizon}-step test; need at least 2."
            )
        names.append(name)
        insamples.append(values)
        actuals.append(future)
    return SeriesSet(names, insamples, np.stack(actuals), horizon, seasonality)


# ---------------------------------------------------------------- speech files
# Spoken digits of the Free Spoken Digit Dataset (FSDD), from its WAV folder or
# tar.gz archive, and transcribed WAV files listed in train/test tables. WAVs at
# other rates are resampled (`zoo.audio.load_wav`) and the count is reported once.

FSDD_SAMPLE_RATE = 8000  # Hz: the rate FSDD is recorded at
FSDD_FILE = re.compile(r"(\d)_([A-Za-z]+)_(\d+)\.wav$")
FSDD_TEST_TAKES = range(0, 5)  # the dataset authors' test split
FSDD_VALIDATION_TAKES = range(5, 8)


class Clip(NamedTuple):
    """One FSDD recording: `{digit}_{speaker}_{take}.wav`."""

    digit: int
    speaker: str
    take: int
    samples: np.ndarray


class Utterance(NamedTuple):
    waveform: np.ndarray  # float32 (samples,)
    labels: np.ndarray  # int32 (symbols,), indices into the alphabet


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


def load_fsdd(data_dir, sample_rate=FSDD_SAMPLE_RATE):
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
    speakers, held_out = _known_speakers(clips, test_speakers)
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


def fsdd_every_take(clips, speakers=None):
    """Every take of `speakers` (of every speaker when none are named): the test clips of a
    model no recording trained (`--synthetic-share 1`)."""
    _, named = _known_speakers(clips, speakers)
    return [c for c in clips if not named or c.speaker in named]


def _known_speakers(clips, speakers):
    """(every speaker in `clips`, the set named), refusing a name the clips lack."""
    known = sorted({clip.speaker for clip in clips})
    named = set(speakers or [])
    unknown = named - set(known)
    if unknown:
        raise ValueError(f"--test-speakers {sorted(unknown)}: not in the data; its speakers are {known}.")
    return known, named


def load_transcribed_wavs(data_dir, alphabet, max_seconds, subsampling, sample_rate=FSDD_SAMPLE_RATE,
                          frame_step=80):
    """(train, test) `Utterance` lists from `data_dir/{train,test}.csv` (`file,transcript`).

    Each file must fit the model that will read it: at most `max_seconds` long, and
    with enough output frames, `⌈(samples // frame_step) / subsampling⌉`, for CTC
    to say its transcript (`zoo.ctc.min_frames`).
    """
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
            frames = -(-(len(samples) // frame_step) // subsampling)
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


# --------------------------------------------------------- labelled text files

IMDB_CLASSES = ["negative", "positive"]  # label 0 / 1 in the IMDB files


def load_imdb(data_dir):
    """(train, test) lists of (text, class index, 1 = positive) from a local copy of IMDB, or TFDS."""
    if data_dir:
        data_dir = pathlib.Path(data_dir)
        if (data_dir / "aclImdb").is_dir():
            data_dir = data_dir / "aclImdb"
        if (data_dir / "train" / "pos").is_dir():
            return tuple(_read_aclimdb_split(data_dir / split) for split in ("train", "test"))
        return tuple(
            read_labelled_texts(find_table(data_dir, split), "text", "label", {"0": 0, "1": 1})
            for split in ("train", "test")
        )
    import tensorflow_datasets as tfds

    splits = tfds.load("imdb_reviews", split=["train", "test"], as_supervised=True)
    return tuple(
        [(text.decode("utf-8"), int(label)) for text, label in tfds.as_numpy(split)]
        for split in splits
    )


def imdb_is_available(data_dir):
    """True when IMDB can be read without a download (decides in well under a second)."""
    if data_dir:
        root = pathlib.Path(data_dir)
        if (root / "aclImdb").is_dir() or (root / "train" / "pos").is_dir():
            return True
        try:
            find_table(root, "train")
        except FileNotFoundError:
            return False
        return True
    try:
        import tensorflow_datasets as tfds

        return tfds.builder("imdb_reviews").is_prepared()
    except Exception:  # no TFDS, or not prepared: fall back to the offline corpus
        return False


def _read_aclimdb_split(folder):
    examples = []
    for index, name in enumerate(IMDB_CLASSES):
        for path in sorted((folder / name[:3]).glob("*.txt")):
            examples.append((path.read_text(encoding="utf-8"), index))
    if not examples:
        raise ValueError(f"{folder}: no pos/*.txt or neg/*.txt reviews.")
    random.Random(0).shuffle(examples)
    return examples


def read_labelled_texts(path, text_column, label_column, class_index, rows=None):
    """(text, class index) pairs; a label outside `class_index` names its row."""
    rows = read_table(path, [text_column, label_column]) if rows is None else rows
    examples = []
    for row_number, row in enumerate(rows, start=2):
        label = row[label_column].strip()
        if label not in class_index:
            raise ValueError(
                f"{path}, row {row_number}: label {label!r} in column {label_column!r} is "
                f"not one of the training labels {sorted(class_index)}."
            )
        examples.append((row[text_column], class_index[label]))
    return examples


def label_lookalikes(labels):
    """Groups of distinct labels that are likely one class: equal numbers ("1", "1.0"), or
    equal once lower-cased, or one a prefix of another of 3+ letters ("pos", "Positive")."""
    def key(label):
        try:
            return ("number", float(label))
        except ValueError:
            return ("text", label.casefold())

    groups = {}
    for label in sorted(labels):
        kind, value = key(label)
        match = next((g for g in groups if g[0] == kind and (g[1] == value or (
            kind == "text" and min(len(g[1]), len(value)) >= 3
            and (g[1].startswith(value) or value.startswith(g[1]))))), None)
        groups.setdefault(match or (kind, value), []).append(label)
    return [group for group in groups.values() if len(group) > 1]


def load_labelled_csv(data_dir, text_column, label_column):
    """(train, test, class names) from `data_dir/train.*` and `data_dir/test.*`."""
    if not data_dir:
        raise ValueError("--data csv needs --data-dir, a folder with train and test CSV/TSV files.")
    train_path, test_path = find_table(data_dir, "train"), find_table(data_dir, "test")
    train_rows = read_table(train_path, [text_column, label_column])
    labels = {row[label_column].strip() for row in train_rows}
    if "" in labels:
        raise ValueError(f"{train_path}: empty value in label column {label_column!r}.")
    if len(labels) < 2:
        raise ValueError(f"{train_path}: column {label_column!r} has one label {labels}; need two or more.")
    lookalikes = label_lookalikes(labels)
    if lookalikes:
        raise ValueError(
            f"{train_path}: labels in column {label_column!r} that look like one class written two ways: "
            + "; ".join(" and ".join(repr(label) for label in group) for group in lookalikes)
            + ". Write each class one way."
        )
    if not any(row[text_column].strip() for row in train_rows):
        raise ValueError(f"{train_path}: every text in column {text_column!r} is empty.")
    numeric = all(label.lstrip("-").isdigit() for label in labels)
    classes = sorted(labels, key=int if numeric else str)
    class_index = {label: index for index, label in enumerate(classes)}
    return (
        read_labelled_texts(train_path, text_column, label_column, class_index, train_rows),
        read_labelled_texts(test_path, text_column, label_column, class_index),
        classes,
    )
