"""Label efficiency on IMDB: test accuracy with 100, 1,000, 5,000 and all training labels, for a classifier
fine-tuned from a language model's encoder, the same classifier from scratch, its NB n-gram branch, and
TF-IDF + logistic regression.

    python benchmarks/label_efficiency.py --data-dir ../shared/data/imdb --language-model text-imdb-lstm-lm
    python benchmarks/label_efficiency.py --data-dir ../shared/data/imdb --language-model text-imdb-gru-lm \\
        --labels 100 1000 --seeds 0 1 2

Each (labels, seed) draws its labelled reviews from IMDB's 25,000 train reviews (balanced, by the
seed) and writes them as `--data csv` files, the user's path, with a fixed `--test-size` sample of
the 25,000 test reviews (the same for every row). Three `train.py` runs read them: the recurrent
model alone (`--ngrams 0`) `--init-from` the language model (its vocabulary, embedding and
recurrent layers; its cell, units and layers), the same model from scratch, and the fine-tuned
model with the n-gram branch (`--ngrams 3`), which reports the n-gram branch alone and the
mixture. 10% of the labels are held out for validation (the best epoch, the mixture weight), as
train.py does. Epochs grow as the labels shrink (`EPOCHS`), the same for every run; with 1,000
labels or fewer no run stops early (`--patience` = epochs: 10-100 validation reviews are too few
to stop on), and the best epoch's weights are kept. `--recipe` fine-tunes with other settings than the
task's defaults (`RECIPES`), `--models` runs some of the columns only. Runs are kept in
`--work-dir` with their commands; a row whose metrics are there is not run again. Prints a
Markdown table (mean ± std over seeds) for benchmarks/RESULTS.md.
"""

import argparse
import csv
import json
import pathlib
import random
import shlex
import statistics
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tasks.sentiment.baselines import tfidf_logistic_regression  # noqa: E402
from tasks.sentiment.data import load_imdb  # noqa: E402

EPOCHS = {100: 30, 1000: 10, 5000: 5}  # and 3 with all labels: steps enough to learn, few enough to finish
ALL = "all"
# Fine-tuning settings other than the task's defaults, for the fine-tuned and mixture runs.
RECIPES = {
    "defaults": [],
    # ULMFiT's slow start: the head alone for 30% of the steps, then the LSTM at 0.3x, the embedding at 0.09x
    "slow-start": ["--encoder-rate-factor", "0.3", "--unfreeze-fraction", "0.3"],
}
MODELS = {  # the table's columns
    "fine-tuned": "fine-tuned from the LM (recurrent alone)",
    "scratch": "same model from scratch",
    "ngrams": "NB n-gram branch alone",
    "mixture": "fine-tuned + n-grams (mixture)",
    "tfidf": "TF-IDF + logistic regression",
}


def labelled_sample(train, labels, seed):
    """`labels` reviews of `train`, half of each class, drawn by `seed` (all of them for ALL)."""
    if labels == ALL:
        return list(train)
    rng = random.Random(seed)
    by_class = {label: [example for example in train if example[1] == label] for label in (0, 1)}
    sample = [example for label in (0, 1) for example in rng.sample(by_class[label], labels // 2)]
    rng.shuffle(sample)
    return sample


def write_csv(path, examples):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(examples)


def train(command, output_dir):
    """The metrics of one train.py run (kept from an earlier one with the same command)."""
    record = output_dir / "record.json"
    if record.exists() and json.loads(record.read_text())["command"] == shlex.join(command):
        return json.loads(record.read_text())["metrics"]
    runs = output_dir / "runs"
    subprocess.run([sys.executable, *command, "--quiet", "--output-dir", str(runs), "--export-dir",
                    str(output_dir / "exports")], cwd=REPO, check=True)
    (run_dir,) = [path for path in runs.iterdir() if not path.name.endswith(".partial")]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    record.write_text(json.dumps({"command": shlex.join(command), "metrics": metrics}, indent=1))
    return metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True, help="IMDB's train/test CSV files")
    parser.add_argument("--language-model", required=True, help="the exported language model to fine-tune from")
    parser.add_argument("--labels", nargs="+", default=["100", "1000", "5000", ALL])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="for 1,000 labels or fewer")
    parser.add_argument("--recipe", choices=RECIPES, default="defaults", help="fine-tuning settings (RECIPES)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="the columns to run")
    parser.add_argument("--test-size", type=int, default=5000, help="test reviews (a fixed sample)")
    parser.add_argument("--work-dir", type=pathlib.Path, default=REPO / "runs" / "label_efficiency")
    args = parser.parse_args()
    train_examples, test_examples = load_imdb(args.data_dir)
    test = random.Random(0).sample(test_examples, min(args.test_size, len(test_examples)))
    language_model = json.loads((pathlib.Path(_model_path(args.language_model)) / "assets.extra" /
                                 "zoo_metadata.json").read_text())["config"]
    scratch_architecture = ["--cell", language_model["cell"], "--units", str(language_model["units"]),
                            "--num-layers", str(language_model["num_layers"]), "--no-bidirectional",
                            "--embedding-dim", str(language_model["embedding_dim"]),
                            "--vocabulary-size", str(language_model["vocabulary_size"])]
    rows = {}
    for labels in args.labels:
        size = ALL if labels == ALL else int(labels)
        seeds = args.seeds if size != ALL and size <= 1000 else args.seeds[:1]
        epochs = str(EPOCHS.get(size, 3))
        for seed in seeds:
            folder = args.work_dir / f"{labels}-seed{seed}"
            (folder / "data").mkdir(parents=True, exist_ok=True)
            sample = labelled_sample(train_examples, size, seed)
            write_csv(folder / "data" / "train.csv", sample)
            write_csv(folder / "data" / "test.csv", test)
            patience = epochs if size != ALL and size <= 1000 else "2"
            common = ["train.py", "--task", "sentiment", "--data", "csv", "--data-dir", str(folder / "data"),
                      "--epochs", epochs, "--patience", patience, "--seed", str(seed)]
            recipe, suffix = RECIPES[args.recipe], "" if args.recipe == "defaults" else f"-{args.recipe}"
            runs, values = set(args.models), {}
            if "fine-tuned" in runs:
                values["fine-tuned"] = train([*common, "--ngrams", "0", "--init-from", args.language_model, *recipe],
                                             folder / f"fine_tuned{suffix}")["test_accuracy"]
            if "scratch" in runs:
                values["scratch"] = train([*common, "--ngrams", "0", *scratch_architecture],
                                          folder / "scratch")["test_accuracy"]
            if runs & {"ngrams", "mixture"}:
                mixture = train([*common, "--ngrams", "3", "--init-from", args.language_model, *recipe],
                                folder / f"mixture{suffix}")
                values["ngrams"], values["mixture"] = mixture["test_accuracy_ngrams"], mixture["test_accuracy"]
            if "tfidf" in runs:
                texts, classes = zip(*sample)
                test_texts, test_classes = zip(*test)
                values["tfidf"] = tfidf_logistic_regression().fit(texts, classes).score(test_texts, test_classes)
            found = rows.setdefault(labels, {})
            for model in MODELS:
                if model in runs:
                    found.setdefault(MODELS[model], []).append(values[model])
    print(f"\nIMDB test accuracy on {len(test):,} test reviews; {args.language_model}; recipe {args.recipe} "
          f"{RECIPES[args.recipe]}; mean ± std over seeds\n")
    names = list(next(iter(rows.values())))
    print("| labels | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for labels, found in rows.items():
        cells = [f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"
                 for v in found.values()]
        print(f"| {labels} | " + " | ".join(cells) + " |")


def _model_path(name):
    import zoo

    return zoo.load(name).path


if __name__ == "__main__":
    main()
