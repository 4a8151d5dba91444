"""CTC speech accuracy benchmarks: one `train.py` run per name, one CSV row per run.

    python benchmarks/ctc_speech.py by-take streaming --data-dir ../shared/data/fsdd
    python benchmarks/ctc_speech.py loso-theo -- --epochs 20   # flags after -- go to train.py

Names: `by-take` (FSDD, takes 0-4 of all four speakers are test, bidirectional),
`streaming` (the same, unidirectional with the streaming export), `synthetic`,
`loso-<speaker>` (train on the other three FSDD speakers, test on this one),
`voices-alone` (train on 300 synthetic voices only, test on every take of the four). Each
run prints its `train.py` command; the row (CER, WER, exact match, parameters,
times, the command) is appended to `benchmarks/ctc_speech.csv`.
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

REPO = pathlib.Path(__file__).resolve().parents[1]
FSDD_SPEAKERS = ["george", "jackson", "nicolas", "theo"]
RUNS = {
    "by-take": ["--data", "fsdd"],
    "streaming": ["--data", "fsdd", "--no-bidirectional"],
    "synthetic": ["--data", "synthetic"],
    **{f"loso-{s}": ["--data", "fsdd", "--test-speakers", s] for s in FSDD_SPEAKERS},
    "voices-alone": ["--data", "fsdd", "--synthetic-voices", "300", "--synthetic-share", "1"],
}
COLUMNS = [
    "name", "cer", "wer", "exact_match", "greedy_cer", "test_utterances", "parameters",
    "train_seconds", "wall_seconds", "epochs_trained", "run_dir", "command",
]


def run(name, data_dir, extra, output_dir, export_dir):
    # Each run in a folder of its own, so that runs started side by side never take each other's.
    output_dir = str(pathlib.Path(output_dir, f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"))
    command = [sys.executable, "train.py", "--task", "ctc_speech", *RUNS[name], "--quiet",
               "--output-dir", output_dir, "--export-dir", export_dir, *extra]
    if RUNS[name][1] == "fsdd":
        command += ["--data-dir", data_dir]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="+", choices=sorted(RUNS), metavar="NAME", help=", ".join(RUNS))
    parser.add_argument("--data-dir", default="../shared/data/fsdd", help="FSDD folder")
    parser.add_argument("--output-dir", default="runs")
    parser.add_argument("--export-dir", default="saved_models")
    parser.add_argument("--csv", default=str(REPO / "benchmarks" / "ctc_speech.csv"))
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args, extra = parser.parse_args(argv[:cut]), argv[cut + 1 :]
    path = pathlib.Path(args.csv)
    for name in args.names:
        row = run(name, args.data_dir, extra, args.output_dir, args.export_dir)
        new = not path.exists()
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        print(f"{name}: cer={row['cer']:.4f} wer={row['wer']:.4f} exact_match={row['exact_match']:.4f} "
              f"({row['train_seconds']} s training, {row['wall_seconds']} s wall)", flush=True)


if __name__ == "__main__":
    main()
