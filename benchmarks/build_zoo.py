"""Rebuild the zoo's shipped models: train each with train.py, export it under its name, write its card.

    python benchmarks/build_zoo.py --data-dir ../shared/data            # all eight: about 3 hours here
    python benchmarks/build_zoo.py --data-dir ../shared/data --only sentiment-imdb-gru

For each model in SHIPPED: one `train.py` run per seed (the LSTM forecaster is the
median of three seeds' forecasts, one SavedModel), then the export into
`saved_models/<name>/1/` (replacing the old one), its picture (`figure.png`, the
task's own), its card (`README.md`, `zoo.cards`), and at the end the manifest
(`saved_models/zoo.json`, every file's size) and `models.config` (paths under
`/models`, as the TF Serving container mounts the folder). Runs are kept in
`--work-dir`; a run already there with the same command is not trained again, so an
interrupted build continues where it stopped. Same seeds, same models.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import zoo  # noqa: E402
from zoo import cards, catalog, edge, plots  # noqa: E402
from zoo.export import write_models_config  # noqa: E402
from zoo.layout import write_manifest  # noqa: E402
from zoo.loading import member_scope  # noqa: E402
from zoo.task import get_task, resolve_config, stored_config  # noqa: E402
from zoo.training import Run, export  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCKER_PREFIX = "/models"  # where `docker run -v $PWD/saved_models:/models tensorflow/serving` sees them
# The sentiment models fine-tune their language model's encoder (words, embedding, recurrent layer) for 2
# epochs, every layer at one rate from the first step (at this budget ULMFiT's schedule measured worse:
# benchmarks/RESULTS.md); the n-gram vocabulary is 200k (not the task's 800k) to keep each model under
# 20 MB beside the LM's 16,000 x 128 embedding.
SENTIMENT_FLAGS = ["--ngram-vocabulary-size", "200000", "--learning-rate", "1e-3", "--epochs", "2"]
# 40 epochs, not the task's 30: the 30-epoch streaming runs scored 1.19% (GRU) and 1.29% (LSTM) CER.
# 300 synthetic voices for half the training utterances: on voices it never heard, they cut the
# leave-one-speaker-out CER (benchmarks/RESULTS.md, "CTC speech").
# The language models' first chunk of pretraining: two passes over IMDB's train + unlabelled reviews
# (about 40 min for the LSTM here); later chunks continue from the shipped model (--init-from).
LANGUAGE_MODEL_FLAGS = ["--epochs", "2"]
# Chunk 2 (one more pass): the model was not overfitting, so less dropout and a lower peak rate.
LANGUAGE_MODEL_CHUNK_2 = ["--epochs", "1", "--learning-rate", "1.5e-3", "--dropout", "0.15", "--input-dropout", "0.15",
                          "--weight-dropout", "0.1"]
# The Speech Commands voices (#31) say a quarter of the training utterances (a half costs the seen voices' CER):
# on folds 0 and 1 of their voices, isolated-digit accuracy 87.5% against 86.9% without them (benchmarks/RESULTS.md).
# The shipped models train on every fold (none held out); their cards quote the fold runs of this recipe.
SPEECH_RECIPE = ["--no-bidirectional", "--units", "256", "--epochs", "40", "--synthetic-voices", "300",
                 "--synthetic-share", "0.5", "--speech-commands-share", "0.25"]
SPEECH_FLAGS = [*SPEECH_RECIPE, "--speech-commands-fold", "none"]
SPEECH_COMMANDS = (("--speech-commands-dir", "speech_commands_digits"),)


@dataclasses.dataclass
class Shipped:
    name: str
    task: str
    cell: str
    data: str  # --data
    folder: str  # under --data-dir
    flags: list
    headline: str  # what the task's headline metric is on this data, for the index ("IMDB test accuracy")
    seeds: tuple = (0,)  # several: a median ensemble (forecasting)
    edge: bool = False  # ship its LiteRT file too (zoo.edge; not for ensembles; ONNX left out: the 50 MB budget)
    # Training longer than one sitting: later chunks (their flags), each a run that continues from the
    # export of the one before (--init-from), with the settings it changes.
    chunks: tuple = ()
    parent: str = None  # a shipped model it is fine-tuned from (--init-from; built before it)
    more_data: tuple = ()  # (flag, folder under --data-dir) of other data it trains on

    def command(self, seed, data_dir, chunk=0, previous_export=None):
        """train.py's arguments for one seed and chunk (0: the first, from `parent` or from scratch)."""
        flags = self.chunks[chunk - 1] if chunk else self.flags
        start = previous_export if chunk else self.parent
        return ["train.py", "--task", self.task, "--cell", self.cell, "--data", self.data,
                "--data-dir", str(pathlib.Path(data_dir) / self.folder),
                *(part for flag, folder in self.more_data for part in (flag, str(pathlib.Path(data_dir) / folder))),
                *flags,
                *(["--init-from", str(start)] if start else []), "--seed", str(seed)]


SHIPPED = [
    Shipped("text-imdb-lstm-lm", "language_model", "lstm", "imdb", "imdb", LANGUAGE_MODEL_FLAGS,
            "IMDB held-out perplexity", chunks=(LANGUAGE_MODEL_CHUNK_2,)),
    Shipped("text-imdb-gru-lm", "language_model", "gru", "imdb", "imdb", LANGUAGE_MODEL_FLAGS,
            "IMDB held-out perplexity"),
    Shipped("sentiment-imdb-gru", "sentiment", "gru", "imdb", "imdb", SENTIMENT_FLAGS, "IMDB test accuracy",
            parent="text-imdb-gru-lm"),
    Shipped("sentiment-imdb-lstm", "sentiment", "lstm", "imdb", "imdb", SENTIMENT_FLAGS, "IMDB test accuracy",
            parent="text-imdb-lstm-lm"),
    Shipped("forecasting-m4-hourly-gru", "forecasting", "gru", "m4", "m4_hourly", [], "M4 Hourly OWA", edge=True),
    Shipped("forecasting-m4-hourly-lstm", "forecasting", "lstm", "m4", "m4_hourly", [], "M4 Hourly OWA", (0, 1, 2)),
    Shipped("ctc_speech-fsdd-gru", "ctc_speech", "gru", "fsdd", "fsdd", SPEECH_FLAGS, "FSDD by-take CER", edge=True,
            more_data=SPEECH_COMMANDS),
    Shipped("ctc_speech-fsdd-lstm", "ctc_speech", "lstm", "fsdd", "fsdd", SPEECH_FLAGS, "FSDD by-take CER",
            more_data=SPEECH_COMMANDS),
]


# ------------------------------------------------------------------- training


def train(spec, seed, data_dir, work_dir):
    """(the finished run folders of every chunk, the last one's last, wall seconds of all, their commands)."""
    export, wall_seconds, commands, run_dirs = None, 0, [], []
    for chunk in range(1 + len(spec.chunks)):
        label = f"{spec.name}-seed{seed}" + (f"-chunk{chunk + 1}" if spec.chunks else "")
        command = spec.command(seed, data_dir, chunk, export)
        run_dir, wall, export = train_once(label, command, spec, work_dir)
        wall_seconds += wall
        commands.append(shlex.join(["python", *command]))
        run_dirs.append(run_dir)
    return run_dirs, wall_seconds, commands


def train_once(label, command, spec, work_dir):
    """(finished run folder, wall seconds, its export) of one train.py run, trained unless kept."""
    record = work_dir / f"{label}.json"
    if record.exists():
        kept = json.loads(record.read_text())
        if kept["command"] == shlex.join(["python", *command]) and pathlib.Path(kept["run_dir"]).is_dir():
            print(f"{label}: kept {kept['run_dir']}", flush=True)
            return pathlib.Path(kept["run_dir"]), kept["wall_seconds"], kept.get("export")
    output_dir, export_dir = work_dir / "runs" / label, work_dir / "exports" / label
    for folder in (output_dir, export_dir):
        shutil.rmtree(folder, ignore_errors=True)
    print("python " + shlex.join(command), flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, *command, "--quiet", "--output-dir", str(output_dir),
                    "--export-dir", str(export_dir)], cwd=REPO, check=True)
    wall = round(time.perf_counter() - start)
    (run_dir,) = [p for p in output_dir.iterdir() if not p.name.endswith(".partial")]
    export = export_dir / f"{spec.task}-{spec.cell}" / "1"
    export = str(export.relative_to(REPO) if export.is_relative_to(REPO) else export)  # the next chunk's command
    record.write_text(json.dumps({"command": shlex.join(["python", *command]), "run_dir": str(run_dir),
                                  "wall_seconds": wall, "export": export}, indent=1))
    return run_dir, wall, export


# -------------------------------------------------------------------- shipping


def ship(spec, members, data_dir, work_dir, earlier_chunks=()):
    """Exports `members` (run folders) as `saved_models/<name>/1` with its picture and card. A model trained in
    chunks counts the passes and training time of its `earlier_chunks` (run folders) too."""
    task = get_task(spec.task)
    config = task.resolve(resolve_config(task, **stored_config(task, json.loads((members[0] / "config.json").read_text()))))
    data = task.build_inputs(config)
    if len(members) == 1:
        models = [zoo.load(members[0] / "model.keras")]
    else:  # each in its scope, so the export names every member's variables apart (zoo.loading.rebuild)
        models = []
        for index, run_dir in enumerate(members):
            with member_scope(index):
                models.append(zoo.load(run_dir / "model.keras"))
    if len(models) == 1:
        model, metrics = models[0], json.loads((members[0] / "metrics.json").read_text())
        # Fitted after training with today's code (a kept run may predate a change in it), then tested as shipped.
        task.calibrate(model, data, config)
        metrics.update(task.evaluate(model, data, config))
        for run_dir in earlier_chunks:
            earlier = json.loads((run_dir / "metrics.json").read_text())
            metrics["epochs_trained"] += earlier["epochs_trained"]
            metrics["train_seconds"] = round(metrics["train_seconds"] + earlier["train_seconds"], 1)
    else:
        model = task.ensemble(models)
        metrics = task.evaluate(model, data, config)
        member_metrics = [json.loads((run_dir / "metrics.json").read_text()) for run_dir in members]
        metrics.update(
            parameters=int(model.count_params()),
            train_seconds=round(sum(m["train_seconds"] for m in member_metrics), 1),
            members=len(models),
        )
    staging = work_dir / "ship"
    shutil.rmtree(staging / spec.name, ignore_errors=True)
    parent = {"name": spec.parent, "version": zoo.load(spec.parent).version} if spec.parent else None
    run = Run(task, config, model, data, history={}, metrics=metrics, run_dir=None, parent=parent)
    version_dir = export(task, run, staging, model_name=spec.name)
    plots.save(task.figure(model, data, config), staging / spec.name / "figure.png")
    return task, config, data, model, version_dir


def install(spec, staging_dir):
    """Replaces saved_models/<name> with the staged folder."""
    target = catalog.SHIPPED_DIR / spec.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(staging_dir, target)
    return target


# ------------------------------------------------------------------------ cards


def write_index(present):
    """saved_models/README.md: one line per shipped model, linking its card."""
    rows = []
    for name, entry in present.items():
        model = zoo.load(catalog.SHIPPED_DIR / name)
        key = get_task(entry["task"]).metric.name
        rows.append((f"[`{name}`]({name}/README.md)", entry["task"], entry["cell"].upper(),
                     f"{entry['headline']} {cards.format_metric(model.metadata['test_metrics'][key])}",
                     f"{cards.size_on_disk(catalog.SHIPPED_DIR / name) / 1e6:.1f} MB"))
    text = "\n".join([
        "# The zoo's shipped models",
        "",
        "Trained on the real data by `python benchmarks/build_zoo.py --data-dir ../shared/data`, in TF",
        "Serving's layout; each folder has its card (README.md) and picture. `zoo.list_models()` lists",
        "them, `zoo.load(NAME)` loads one, `zoo serve` serves them all, and `models.config` lists them",
        "for the TF Serving container (`-v \"$PWD/saved_models:/models\"`). Your own exports land",
        "here too (not tracked by git); an export never takes a shipped model's name.",
        "",
        *cards.markdown_table(("model", "task", "cell", "test metric", "size"), rows),
        "",
    ])
    (catalog.SHIPPED_DIR / "README.md").write_text(text)


# ------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True, help="the folder with imdb/, m4_hourly/, fsdd/ and "
                        "speech_commands_digits/")
    parser.add_argument("--work-dir", type=pathlib.Path, default=REPO / "runs" / "build_zoo",
                        help="runs and staging (default runs/build_zoo)")
    parser.add_argument("--only", nargs="+", choices=[spec.name for spec in SHIPPED], help="these models only")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for spec in SHIPPED:
        if args.only and spec.name not in args.only:
            continue
        trained = [train(spec, seed, args.data_dir, args.work_dir) for seed in spec.seeds]
        task, config, data, model, version_dir = ship(spec, [run_dirs[-1] for run_dirs, _, _ in trained],
                                                      args.data_dir, args.work_dir, trained[0][0][:-1])
        metrics = zoo.load(version_dir).metadata["test_metrics"]
        facts = task.card_facts(spec, config, data, metrics, model, version_dir,
                                pathlib.Path(args.data_dir) / spec.folder)
        commands = [command for _, _, seed_commands in trained for command in seed_commands]
        facts.update(command=" ; ".join(commands), build_seconds=sum(wall for _, wall, _ in trained),
                     seeds=", ".join(map(str, spec.seeds)))
        (version_dir.parent / cards.CARD_FILE).write_text(cards.render(zoo.load(version_dir), facts))
        if spec.edge:
            edge.convert(version_dir, ["litert"])  # into 1/edge/, recorded in the card
        install(spec, version_dir.parent)
        # At once: a model built later may start from this one by name, which checks it against the manifest.
        present = write_catalog()
        print(f"{spec.name}: {catalog.SHIPPED_DIR / spec.name}", flush=True)
    present = write_catalog()
    print(f"build_zoo: {len(present)} shipped models, {(time.perf_counter() - start) / 60:.1f} min", flush=True)


def write_catalog():
    """The manifest (every shipped file's size), models.config and the index of the models now in place."""
    present = {spec.name: {"task": spec.task, "cell": spec.cell, "headline": spec.headline} for spec in SHIPPED
               if (catalog.SHIPPED_DIR / spec.name).is_dir()}
    write_manifest(catalog.SHIPPED_DIR, present)
    write_models_config(catalog.SHIPPED_DIR, DOCKER_PREFIX)
    write_index(present)
    return present


if __name__ == "__main__":
    main()
