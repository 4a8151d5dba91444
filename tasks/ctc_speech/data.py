"""The speech task's files: Free Spoken Digit Dataset recordings and transcribed WAV folders.

Spoken digits of the Free Spoken Digit Dataset (FSDD), from its WAV folder or tar.gz
archive, and transcribed WAV files listed in train/test tables. WAVs at other rates are
resampled (`zoo.audio.load_audio`) and the count is reported once; every error names the file.
"""

import csv
import io
import pathlib
import re
import tarfile
from typing import NamedTuple

import numpy as np

from tasks.ctc_speech.ctc import encode_text, min_frames
from zoo.audio import load_audio
from zoo.data import find_table, read_table

# ---------------------------------------------------------------- speech files
# Spoken digits of the Free Spoken Digit Dataset (FSDD), from its WAV folder or
# tar.gz archive, and transcribed WAV files listed in train/test tables. WAVs at
# other rates are resampled (`zoo.audio.load_audio`) and the count is reported once.

FSDD_SAMPLE_RATE = 8000  # Hz: the rate FSDD is recorded at
FSDD_FILE = re.compile(r"(\d)_([A-Za-z]+)_(\d+)\.wav$")
SPEECH_COMMANDS_FILE = re.compile(r"(\d)_([0-9a-f]{8})_(\d+)\.wav$")  # speaker: Speech Commands' hash
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


def _clip_wavs(data_dir, pattern=FSDD_FILE, every=False):
    """The WAVs of a recordings/ folder (or the folder itself) named as `pattern` says (`every`: all)."""
    root = pathlib.Path(data_dir)
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    return sorted(p for p in folder.glob("*.wav") if every or pattern.search(p.name))


def fsdd_is_available(data_dir):
    """True when `data_dir` holds FSDD WAVs or an archive of them (decides in milliseconds)."""
    if not data_dir or not pathlib.Path(data_dir).is_dir():
        return False
    archives = [p.name.lower() for p in _fsdd_archives(data_dir)]
    return bool(_clip_wavs(data_dir)) or any("recordings" in a or "fsdd" in a for a in archives)


def load_fsdd(data_dir, sample_rate=FSDD_SAMPLE_RATE):
    """All FSDD clips under `data_dir` (WAV folder or tar.gz), at `sample_rate`."""
    if not data_dir:
        raise ValueError("--data fsdd needs --data-dir, a folder with recordings.tar.gz or recordings/*.wav.")
    clips, _ = _read_clips(data_dir, FSDD_FILE, sample_rate)
    if not clips:
        raise ValueError(
            f"{data_dir}: no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) in a recordings/ "
            "folder, the folder itself or a .tar.gz archive."
        )
    return clips


def load_speech_commands(data_dir, sample_rate=FSDD_SAMPLE_RATE):
    """The Speech Commands digit clips under `data_dir` (`recordings/<digit>_<speaker>_<n>.wav`, in a
    folder or tar.gz, with `speakers.csv`: speaker, clips per digit 0..9, total), at `sample_rate`. The
    table must agree with the files: a speaker or a count it does not list is an error naming both."""
    if not data_dir:
        raise ValueError("Speech Commands digits need --data-dir, a folder with recordings.tar.gz (or "
                         "recordings/*.wav) and speakers.csv.")
    clips, tables = _read_clips(data_dir, SPEECH_COMMANDS_FILE, sample_rate, tables=("speakers.csv",), strict=True)
    if not clips:
        raise ValueError(f"{data_dir}: no Speech Commands clips (<digit>_<speaker>_<n>.wav, speaker an 8-digit "
                         "hex id) in a recordings/ folder, the folder itself or a .tar.gz archive.")
    if "speakers.csv" not in tables:
        raise ValueError(f"{data_dir}: no speakers.csv (speaker,0,1,...,9,total) beside the clips.")
    table_name, text = tables["speakers.csv"]
    found = {}
    for clip in clips:
        found.setdefault(clip.speaker, [0] * 10)[clip.digit] += 1
    listed = {}
    for row_number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            listed[row["speaker"]] = [int(row[str(digit)]) for digit in range(10)]
        except (KeyError, ValueError) as error:
            raise ValueError(f"{table_name}, row {row_number}: expected speaker,0,...,9,total with whole "
                             f"numbers ({error}).") from None
    for speaker in sorted(set(found) | set(listed)):
        if found.get(speaker) != listed.get(speaker):
            raise ValueError(
                f"{table_name} disagrees with the clips for speaker {speaker}: it lists "
                f"{listed.get(speaker, 'nothing')} clips of digits 0..9, the files hold {found.get(speaker, 'none')}."
            )
    return clips


def speaker_folds(clips, folds, fold):
    """(training clips, held-out clips): the speakers, in an order fixed whatever the run's seed, dealt
    into `folds` folds; fold `fold` is held out (None: none is, every clip trains)."""
    if folds < 2:
        raise ValueError(f"--speech-commands-folds {folds}: give 2 or more (one fold is held out).")
    if fold is not None and not 0 <= fold < folds:
        raise ValueError(f"--speech-commands-fold {fold}: give 0 .. {folds - 1}, or none.")
    speakers = sorted({clip.speaker for clip in clips})
    order = np.random.default_rng(0).permutation(len(speakers))
    held_out = {speakers[i] for rank, i in enumerate(order) if rank % folds == fold}
    return [c for c in clips if c.speaker not in held_out], [c for c in clips if c.speaker in held_out]


def _read_clips(data_dir, pattern, sample_rate, tables=(), strict=False):
    """(the `Clip`s of the WAVs whose names match `pattern` (digit, speaker, take), {table: (where, text)}
    of the `tables` (file names) found beside them), from a recordings/ folder, the folder itself or its
    .tar.gz archives. Clips at other rates are resampled and counted once. `strict`: a WAV whose name
    does not match is an error naming it (else it is passed over)."""
    clips, other_rates, found_tables = [], [], {}

    def add(name, source):
        match = pattern.search(name)
        if not match and strict:
            raise ValueError(f"{name}: expected a name <digit>_<speaker>_<n>.wav ({pattern.pattern}).")
        if not match:
            return
        samples, rate = load_audio(source, sample_rate, name=name)
        if rate != sample_rate:
            other_rates.append((name, rate))
        digit, speaker, take = match.groups()
        clips.append(Clip(int(digit), speaker, int(take), samples))

    root = pathlib.Path(data_dir)
    wavs = _clip_wavs(data_dir, pattern, every=strict)
    if wavs:
        for path in wavs:
            add(str(path), path)
        for name in tables:
            if (root / name).is_file():
                found_tables[name] = (str(root / name), (root / name).read_text(encoding="utf-8"))
    else:
        for archive in _fsdd_archives(data_dir):
            try:
                with tarfile.open(archive) as tar:
                    for member in tar:
                        base = pathlib.PurePosixPath(member.name).name
                        if member.isfile() and member.name.endswith(".wav"):
                            add(f"{archive}:{member.name}", io.BytesIO(tar.extractfile(member).read()))
                        elif member.isfile() and base in tables:
                            found_tables[base] = (f"{archive}:{member.name}",
                                                  tar.extractfile(member).read().decode("utf-8"))
            except (tarfile.TarError, EOFError, OSError) as error:
                raise ValueError(f"{archive}: not a readable tar.gz archive ({error}).") from error
    _say_resampled(other_rates, sample_rate)
    return clips, found_tables


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
    to say its transcript (`tasks.ctc_speech.ctc.min_frames`).
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
            samples, rate = load_audio(path, sample_rate)
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


