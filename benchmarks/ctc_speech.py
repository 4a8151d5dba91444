"""CTC speech accuracy benchmarks: one `train.py` run per name, one CSV row per run.

    python benchmarks/ctc_speech.py by-take streaming --data-dir ../shared/data/fsdd
    python benchmarks/ctc_speech.py loso-theo -- --epochs 20   # flags after -- go to train.py

Names: `by-take` (FSDD, takes 0-4 of all four speakers are test, bidirectional),
`streaming` (the same, unidirectional with the streaming export), `synthetic`,
`loso-<speaker>` (train on the other three FSDD speakers, test on this one),
`voices-alone` (train on 300 synthetic voices only, test on every take of the four),
`sc-fold-<k>` (FSDD and the Speech Commands voices but fold k of their speakers, which is the
isolated-digit test: `--speech-commands-dir`; any run given `--speech-commands-...` flags after `--` gets the
folder too, e.g. `loso-theo -- --speech-commands-share 0.25`). Each run prints its `train.py` command; the row
(CER, WER, exact match, the isolated-digit accuracy and CER, parameters, times, the command) is
appended to `benchmarks/ctc_speech.csv`.

    python benchmarks/ctc_speech.py --score ctc_speech-fsdd-gru     # an export on every Speech Commands clip

`--score MODEL` runs an exported model, as a user would (`zoo.load`), on every Speech Commands
digit clip (96 voices it never heard) and prints its isolated-digit accuracy and CER, overall and
per speaker fold.
"""

import argparse
import csv
import json
import os
import pathlib
import shlex
import subprocess
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # zoo and tasks, for --score
FSDD_SPEAKERS = ["george", "jackson", "nicolas", "theo"]
SPEECH_COMMANDS_FOLDS = 5  # the task's default --speech-commands-folds
RUNS = {
    "by-take": ["--data", "fsdd"],
    "streaming": ["--data", "fsdd", "--no-bidirectional"],
    "synthetic": ["--data", "synthetic"],
    **{f"loso-{s}": ["--data", "fsdd", "--test-speakers", s] for s in FSDD_SPEAKERS},
    "voices-alone": ["--data", "fsdd", "--synthetic-voices", "300", "--synthetic-share", "1"],
    **{f"sc-fold-{k}": ["--data", "fsdd", "--speech-commands-fold", str(k)] for k in range(SPEECH_COMMANDS_FOLDS)},
}
COLUMNS = [
    "name", "cer", "wer", "exact_match", "greedy_cer", "test_utterances", "isolated_accuracy", "isolated_cer",
    "isolated_clips", "parameters",
    "train_seconds", "wall_seconds", "epochs_trained", "run_dir", "command",
]


def run(name, data_dir, speech_commands_dir, extra, output_dir, export_dir):
    # Each run in a folder of its own, so that runs started side by side never take each other's.
    output_dir = str(pathlib.Path(output_dir, f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"))
    command = [sys.executable, "train.py", "--task", "ctc_speech", *RUNS[name], "--quiet",
               "--output-dir", output_dir, "--export-dir", export_dir, *extra]
    if RUNS[name][1] == "fsdd":
        command += ["--data-dir", data_dir]
    if any(flag.startswith("--speech-commands-") for flag in RUNS[name] + list(extra)):  # their voices train
        command += ["--speech-commands-dir", speech_commands_dir]
    printable = shlex.join(["python", *command[1:]])
    print(printable, flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True)
    wall = time.perf_counter() - start
    (run_dir,) = pathlib.Path(REPO, output_dir).glob("ctc_speech-*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        **{k: metrics.get(k) for k in COLUMNS},
        "name": name, "wall_seconds": round(wall), "run_dir": str(run_dir.relative_to(REPO) if run_dir.is_relative_to(REPO) else run_dir),
        "command": printable,
    }


def score(model_name, speech_commands_dir):
    """An export's isolated-digit accuracy and CER on every Speech Commands clip, overall and per fold."""
    import zoo
    from tasks.ctc_speech.ctc import error_rates
    from tasks.ctc_speech.data import load_speech_commands, speaker_folds

    model = zoo.load(model_name)
    rate = model.metadata["data"]["sample_rate"]
    clips = load_speech_commands(speech_commands_dir, rate)
    said = {}
    for start in range(0, len(clips), 32):
        batch = clips[start:start + 32]
        out = model(waveform=np.stack([c.samples for c in batch]), length=np.array([len(c.samples) for c in batch],
                                                                                     "int32"))
        said.update({id(c): text.decode() for c, text in zip(batch, out["text"])})
    print(f"{model_name} on {len(clips)} Speech Commands clips ({len({c.speaker for c in clips})} voices):")
    groups = [("all", clips)] + [(f"fold {k}", speaker_folds(clips, SPEECH_COMMANDS_FOLDS, k)[1])
                                 for k in range(SPEECH_COMMANDS_FOLDS)]
    for label, group in groups:
        truth, text = [str(c.digit) for c in group], [said[id(c)] for c in group]
        accuracy = np.mean([a == b for a, b in zip(truth, text)])
        print(f"  {label}: isolated accuracy {accuracy:.3f}, CER {error_rates(truth, text, '0123456789')['cer']:.3f} "
              f"({len(group)} clips)")


def append_row(path, row):
    """Appends `row` to the CSV (rewritten whole, so rows written before a column was added keep their place)."""
    rows = list(csv.DictReader(path.open())) if path.exists() else []
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows + [row])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(RUNS))
    parser.add_argument("--data-dir", default="../shared/data/fsdd", help="FSDD folder")
    parser.add_argument("--speech-commands-dir", default="../shared/data/speech_commands_digits",
                        help="the Speech Commands digit clips (sc-fold-* runs, --score)")
    parser.add_argument("--score", metavar="MODEL", help="score this export on every Speech Commands clip instead")
    parser.add_argument("--output-dir", default="runs")
    parser.add_argument("--export-dir", default="saved_models")
    parser.add_argument("--csv", default=str(REPO / "benchmarks" / "ctc_speech.csv"))
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args, extra = parser.parse_args(argv[:cut]), argv[cut + 1 :]
    if args.score:
        return score(args.score, args.speech_commands_dir)
    unknown = [name for name in args.names if name not in RUNS]
    if unknown or not args.names:
        parser.error(f"give run names from {', '.join(RUNS)} (or --score MODEL); unknown: {unknown}")
    path = pathlib.Path(args.csv)
    for name in args.names:
        row = run(name, args.data_dir, args.speech_commands_dir, extra, args.output_dir, args.export_dir)
        append_row(path, row)
        isolated = (f" isolated_accuracy={row['isolated_accuracy']:.4f}" if row.get("isolated_accuracy") is not None
                    else "")
        print(f"{name}: cer={row['cer']:.4f} wer={row['wer']:.4f} exact_match={row['exact_match']:.4f}{isolated} "
              f"({row['train_seconds']} s training, {row['wall_seconds']} s wall)", flush=True)


if __name__ == "__main__":
    main()
