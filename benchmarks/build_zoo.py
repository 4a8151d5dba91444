"""Rebuild the zoo's shipped models: train each with train.py, export it under its name, write its card.

    python benchmarks/build_zoo.py --data-dir ../shared/data            # all six: about 80 min here
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
import csv
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

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from tasks.ctc_speech.ctc import ctc_decode  # noqa: E402
from tasks.forecasting import m4  # noqa: E402
from tasks.forecasting.layers import last_values, median_ensemble  # noqa: E402
from zoo import cards, catalog, edge, plots  # noqa: E402
from zoo.export import write_manifest, write_models_config  # noqa: E402
from zoo.task import get_task, resolve_config, stored_config  # noqa: E402
from zoo.training import Run, export  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCKER_PREFIX = "/models"  # where `docker run -v $PWD/saved_models:/models tensorflow/serving` sees them
# The n-gram vocabulary is 300k (not the task's 800k) to keep each model under 20 MB.
SENTIMENT_FLAGS = ["--vocabulary-size", "20000", "--embedding-dim", "64", "--ngram-vocabulary-size", "300000"]
# 40 epochs, not the task's 30: the 30-epoch streaming runs scored 1.19% (GRU) and 1.29% (LSTM) CER.
# 300 synthetic voices for half the training utterances: on voices it never heard, they cut the
# leave-one-speaker-out CER (benchmarks/RESULTS.md, "CTC speech").
SPEECH_FLAGS = ["--no-bidirectional", "--units", "256", "--epochs", "40", "--synthetic-voices", "300",
                "--synthetic-share", "0.5"]
SPEECH_BENCHMARKS = REPO / "benchmarks" / "ctc_speech.csv"  # benchmarks/ctc_speech.py's rows


@dataclasses.dataclass
class Shipped:
    name: str
    task: str
    cell: str
    data: str  # --data
    folder: str  # under --data-dir
    flags: list
    seeds: tuple = (0,)  # several: a median ensemble (forecasting)
    edge: bool = False  # ship its LiteRT file too (zoo.edge; not for ensembles; ONNX left out: the 50 MB budget)

    def command(self, seed, data_dir):
        return ["train.py", "--task", self.task, "--cell", self.cell, "--data", self.data,
                "--data-dir", str(pathlib.Path(data_dir) / self.folder), *self.flags, "--seed", str(seed)]


SHIPPED = [
    Shipped("sentiment-imdb-gru", "sentiment", "gru", "imdb", "imdb", SENTIMENT_FLAGS),
    Shipped("sentiment-imdb-lstm", "sentiment", "lstm", "imdb", "imdb", SENTIMENT_FLAGS),
    Shipped("forecasting-m4-hourly-gru", "forecasting", "gru", "m4", "m4_hourly", [], edge=True),
    Shipped("forecasting-m4-hourly-lstm", "forecasting", "lstm", "m4", "m4_hourly", [], (0, 1, 2)),
    Shipped("ctc_speech-fsdd-gru", "ctc_speech", "gru", "fsdd", "fsdd", SPEECH_FLAGS, edge=True),
    Shipped("ctc_speech-fsdd-lstm", "ctc_speech", "lstm", "fsdd", "fsdd", SPEECH_FLAGS),
]


# ------------------------------------------------------------------- training


def train(spec, seed, data_dir, work_dir):
    """The finished run folder of one train.py run and its wall seconds, trained unless kept."""
    command = spec.command(seed, data_dir)
    record = work_dir / f"{spec.name}-seed{seed}.json"
    if record.exists():
        kept = json.loads(record.read_text())
        if kept["command"] == shlex.join(["python", *command]) and pathlib.Path(kept["run_dir"]).is_dir():
            print(f"{spec.name} seed {seed}: kept {kept['run_dir']}", flush=True)
            return pathlib.Path(kept["run_dir"]), kept["wall_seconds"]
    output_dir = work_dir / "runs" / f"{spec.name}-seed{seed}"
    shutil.rmtree(output_dir, ignore_errors=True)
    print("python " + shlex.join(command), flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, *command, "--quiet", "--output-dir", str(output_dir),
                    "--export-dir", str(work_dir / "exports")], cwd=REPO, check=True)
    wall = round(time.perf_counter() - start)
    (run_dir,) = [p for p in output_dir.iterdir() if not p.name.endswith(".partial")]
    record.write_text(json.dumps({"command": shlex.join(["python", *command]), "run_dir": str(run_dir),
                                  "wall_seconds": wall}, indent=1))
    return run_dir, wall


# -------------------------------------------------------------------- shipping


def ship(spec, members, data_dir, work_dir):
    """Exports `members` (run folders) as `saved_models/<name>/1` with its picture and card."""
    task = get_task(spec.task)
    config = task.resolve(resolve_config(task, **stored_config(task, json.loads((members[0] / "config.json").read_text()))))
    data = task.build_inputs(config)
    models = [zoo.load(run_dir / "model.keras") for run_dir in members]
    if len(models) == 1:
        model, metrics = models[0], json.loads((members[0] / "metrics.json").read_text())
    else:
        model = median_ensemble(models, name=f"{spec.task}_{spec.cell}_ensemble")
        metrics = task.evaluate(model, data, config)
        member_metrics = [json.loads((run_dir / "metrics.json").read_text()) for run_dir in members]
        metrics.update(
            parameters=int(model.count_params()),
            train_seconds=round(sum(m["train_seconds"] for m in member_metrics), 1),
            members=len(models),
        )
    staging = work_dir / "ship"
    shutil.rmtree(staging / spec.name, ignore_errors=True)
    run = Run(task, config, model, data, history={}, metrics=metrics, run_dir=None)
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


def sentiment_facts(spec, config, data, metrics):
    from tasks.sentiment.baselines import tfidf_logistic_regression

    texts, labels = zip(*data.train.unbatch().as_numpy_iterator())
    test_texts, test_labels = zip(*data.test.unbatch().as_numpy_iterator())
    labels = np.array([y["probabilities"] if isinstance(y, dict) else y for y in labels])
    test_labels = np.array([y["probabilities"] if isinstance(y, dict) else y for y in test_labels])
    baseline = tfidf_logistic_regression().fit([t.decode() for t in texts], labels)
    tfidf = float(np.mean(baseline.predict([t.decode() for t in test_texts]) == test_labels))
    train_size, validation_size, test_size = data.info["sizes"]
    cell = spec.cell.upper()
    return {
        "summary": f"English movie-review sentiment: raw text in, negative/positive out. A bidirectional "
                   f"{cell} read of the words mixed with a bag of 1-3-grams (NB-weighted logistic "
                   f"regression), trained on IMDB.",
        "task_line": "sentiment (`tasks/sentiment.py`): raw text in, class probabilities out",
        "data": [
            ("data", "IMDB Large Movie Review Dataset v1.0 (Maas et al., ACL 2011), official split"),
            ("licence", "none stated by the authors (research use, citation requested)"),
            ("split", f"train {train_size:,} / validation {validation_size:,} (10% of train, seed "
                      f"{config['seed']}) / test {test_size:,} reviews, balanced"),
        ],
        "architecture": f"TextVectorization ({config['vocabulary_size']:,} words, {config['sequence_length']} "
                        f"tokens) → embedding {config['embedding_dim']} → Bi{cell} {config['units']} → "
                        f"mean+max pooling → softmax; beside it TextVectorization of 1-{config['ngrams']}-grams "
                        f"({config['ngram_vocabulary_size']:,}) → NB logistic regression; the mixture weight "
                        f"({metrics['mixture_weight_recurrent']:.2f} recurrent) fitted on validation",
        "baseline_header": ("model", "test accuracy"),
        "baselines": [
            ("this model (mixture)", cards.format_metric(metrics["test_accuracy"])),
            (f"its Bi{cell} branch alone", cards.format_metric(metrics["test_accuracy_recurrent"])),
            ("its n-gram branch alone", cards.format_metric(metrics["test_accuracy_ngrams"])),
            ("TF-IDF 1-2-grams + logistic regression (`tasks.sentiment.baselines`), same train split",
             cards.format_metric(tfidf)),
        ],
        "not_for": [
            "Other languages: the vocabulary is English words and n-grams of IMDB reviews.",
            "Other domains (product reviews, tweets, support tickets): measured only on IMDB movie "
            "reviews; fine-tune it on your data (`train.py --init-from`) and measure.",
            "Neutral or mixed text: it has two classes only; a neutral text still gets one of them.",
            f"Texts beyond {config['sequence_length']} tokens: the recurrent branch reads the first "
            f"{config['sequence_length']} (the n-gram branch reads all).",
        ],
        "picture": "figure.png",
        "picture_caption": "ROC and calibration on the IMDB test set",
        "examples": {"serving_default": {"text": ["a fine film, if a little long", "a dull, lifeless script"]}},
    }


def forecasting_facts(spec, config, data, metrics, model, data_dir):
    series = data.reference
    short = 7 * series.seasonality
    histories = last_values(series.insamples, config["input_window"])
    histories[:, :-short] = np.nan  # one week of history only
    short_scores = m4.forecast_scores(series, model.predict(histories, verbose=0))["model"]
    reference_rows = [(f"M4 entry: {name}", *(f"{scores[k]:.3f}" for k in ("smape", "mase", "owa")))
                      for name, scores in m4.hourly_reference_scores(pathlib.Path(data_dir) / spec.folder).items()]
    cell = spec.cell.upper()
    return {
        "summary": "Hourly series forecasting, 48 hours ahead, from raw history: "
                   + (f"the median of {len(spec.seeds)} {cell} forecasters (seeds {', '.join(map(str, spec.seeds))})"
                      if len(spec.seeds) > 1 else f"one {cell} forecaster")
                   + " trained on M4 Hourly.",
        "task_line": "forecasting (`tasks/forecasting.py`): raw history in, 48 forecasts out",
        "data": [
            ("data", "M4 Competition, Hourly subset (Makridakis et al., IJF 2020): 414 series, horizon 48, m = 24"),
            ("licence", "none stated (published for reproducing and evaluating forecasts; cite the paper)"),
            ("split", "the competition's: each series' in-sample values train (its last 48 validate), "
                      "the 48 values after it test"),
        ],
        "architecture": f"history / level (mean absolute value over the last day) in chunks of {config['chunk_length']} → "
                        f"{config['num_layers']} x {cell} {config['units']} → dense 48 = correction to the "
                        "seasonal-naive forecast → x level"
                        + (f"; {len(spec.seeds)} members, their median in the graph" if len(spec.seeds) > 1 else ""),
        "baseline_header": ("method", "sMAPE", "MASE", "OWA"),
        "baselines": [
            ("this model", *(f"{metrics[k]:.3f}" for k in ("smape", "mase", "owa"))),
            *[(name, *(f"{metrics[f'{key}_{k}']:.3f}" for k in ("smape", "mase", "owa")))
              for name, key in (("Naive", "naive"), ("sNaive", "snaive"), ("Naive2", "naive2"))],
            *reference_rows,
        ],
        "not_for": [
            f"Series shorter than its window: it reads {config['input_window']} values (two weeks); "
            f"shorter histories are NaN-padded and work, but cost accuracy. Measured with only the last "
            f"week of each test history: OWA {short_scores['owa']:.3f} against {metrics['owa']:.3f} with "
            f"the full window.",
            "Other frequencies: trained on hourly series with a daily season (m = 24) and a 48-step "
            "horizon, which the export fixes; train your own with `--data csv --horizon H --seasonality m`.",
            "Intervals: it forecasts a point; train with `--quantiles 0.1,0.5,0.9` for a P10-P90 band.",
        ],
        "picture": "figure.png",
        "picture_caption": "forecasts against actuals, first test series",
        "examples": {"serving_default": {"history": [[round(float(v), 1) for v in series.insamples[0][-48:]]]}},
    }


def unseen_voice_figures(flags, path=SPEECH_BENCHMARKS):
    """{speaker: CER} of the newest leave-one-speaker-out rows of `path` trained with `flags`
    (the GRU's: benchmarks/ctc_speech.py runs the task's default cell)."""
    figures = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            if row["name"].startswith("loso-") and f" {shlex.join(flags)} --data-dir " in row["command"] + " ":
                figures[row["name"].removeprefix("loso-")] = float(row["cer"])
    return dict(sorted(figures.items()))


def unseen_voice_line(flags, cell):
    figures = unseen_voice_figures(flags)
    command = f"`python benchmarks/ctc_speech.py loso-george ... -- {shlex.join(flags)}`"
    if not figures:
        return ("Voices it never heard: not measured for this recipe (leave-one-speaker-out: " + command + "). "
                "Expect errors on a new voice, accent or microphone.")
    per_speaker = ", ".join(f"{speaker} {cer:.1%}" for speaker, cer in figures.items())
    mean = sum(figures.values()) / len(figures)
    trained_by = "this recipe" if cell == "gru" else "this recipe with a GRU"
    return (f"Voices it never heard, when the 5% CER a stranger would accept matters: trained by {trained_by} "
            f"on three of FSDD's four voices (and the synthetic ones), it scored on the fourth {per_speaker} "
            f"(mean {mean:.1%}; leave-one-speaker-out, benchmarks/RESULTS.md, {command}). "
            "Expect more errors on a new voice, accent or microphone than on its test takes.")


def speech_facts(spec, config, data, metrics, model, version_dir):
    parity = streaming_parity(version_dir, data)
    cell = spec.cell.upper()
    speakers = ", ".join(data.info["train_speakers"])
    train_clips, validation_clips, test_clips = data.info["clips"]
    voices = data.info.get("synthetic_voices")
    synthetic = []
    if voices:
        engine = {"espeak": "eSpeak NG", "formant": "the task's formant synthesiser"}[voices["engine"]]
        synthetic = [("synthetic voices", f"{voices['count']} voices ({engine}: accent, variant, pitch, rate and "
                                          f"vocal tract length each), saying {voices['share']:.0%} of the training "
                                          "utterances (`tasks/_digit_utterances.py`)")]
    return {
        "summary": f"Connected spoken digits (\"4 0 7 7 1\"), recognised as they are spoken: raw 8 kHz "
                   f"audio in, a digit string out, streaming through `step` 40 ms at a time. A "
                   f"unidirectional {cell} with CTC, trained on FSDD"
                   f"{' and synthetic voices' if voices else ''}.",
        "task_line": "ctc_speech (`tasks/ctc_speech.py`): raw waveform in, digit string out",
        "data": [
            ("data", "Free Spoken Digit Dataset (Jackson et al., Zenodo doi:10.5281/zenodo.1342401), "
                     f"speakers {speakers}"),
            ("licence", "the data is CC BY-SA 4.0: models trained on it are shared with attribution, "
                        "under the same licence"),
            ("split", f"the authors' by-take split: takes 8-49 train ({train_clips:,} clips), 5-7 validation "
                      f"({validation_clips}), 0-4 test ({test_clips}); clips composed into utterances of "
                      f"1-{config['max_digits']} digits with pauses, gains and noise"),
            *synthetic,
        ],
        "architecture": f"log-mel (25 ms, 10 ms hop, {config['num_mel_bins']} bins, causal normalisation) → conv "
                        f"stride {config['subsampling']} ({config['conv_filters']} filters) → "
                        f"{config['num_layers']} x {cell} {config['units']} → logits over 10 digits + blank",
        "baseline_header": ("measure", "value"),
        "baselines": [
            ("CER, test takes of the four training voices (beam search)", f"{metrics['cer']:.2%}"),
            ("CER, greedy decoding", f"{metrics['greedy_cer']:.2%}"),
            ("exact strings", f"{metrics['exact_match']:.1%}"),
            (f"streamed `step` against `serving_default`, {parity['utterances']} test utterances: "
             "largest logit difference", f"{parity['max_logit_difference']:.1e}"),
            ("streamed greedy text equal to `serving_default`'s greedy text", f"{parity['same_text']:.1%}"),
        ],
        "not_for": [
            unseen_voice_line(spec.flags, spec.cell),
            "Words other than the digits 0-9 in English, and open speech.",
            "Audio at other rates is resampled by `zoo.audio` when read from a WAV file; the export "
            "itself assumes 8 kHz samples in [-1, 1].",
        ],
        "picture": "figure.png",
        "picture_caption": "per-frame CTC posteriors of one test utterance",
        "examples": {"initial_state": {"batch_size": 1}},
        "usage": "A WAV file (any rate and width; `zoo.audio` resamples to 8 kHz) through `serving_default`:\n\n"
                 "```python\nimport zoo, zoo.audio\n"
                 f'model = zoo.load("{spec.name}")\n'
                 'samples, _ = zoo.audio.load_wav("digits.wav", 8000)\n'
                 'model(waveform=[samples], length=[len(samples)])["text"]\n```\n\n'
                 "```bash\npython -c \"import json, zoo.audio; s, _ = zoo.audio.load_wav('digits.wav', 8000); "
                 "print(json.dumps({'inputs': {'waveform': [s.tolist()], 'length': [len(s)]}}))\" > request.json\n"
                 f"curl -d @request.json localhost:8501/v1/models/{spec.name}:predict\n```\n\n"
                 "Streaming: `state = model(batch_size=1, signature_name=\"initial_state\")[\"state\"]`, then "
                 "for each 40 ms chunk (320 samples) `out = model(audio=chunk, state=state, "
                 "signature_name=\"step\")`; `out[\"text\"]` holds the digits recognised in that chunk and "
                 "`out[\"state\"]` goes into the next call.",
    }


def streaming_parity(version_dir, data, count=20):
    """Streams test utterances through `step` (40 ms chunks) and compares with `serving_default`."""
    model = tf.saved_model.load(str(version_dir))
    step, serve = model.signatures["step"], model.signatures["serving_default"]
    chunk, differences, same = 320, [], []
    inputs, _ = next(iter(data.test))
    for waveform, length in list(zip(inputs["waveform"].numpy(), inputs["length"].numpy()))[:count]:
        audio = waveform[: length + (-length % chunk)][None]
        state = model.signatures["initial_state"](batch_size=tf.constant(1))["state"]
        logits, text = [], ""
        for start in range(0, audio.shape[1], chunk):
            out = step(audio=tf.constant(audio[:, start : start + chunk]), state=state)
            state, text = out["state"], text + out["text"].numpy()[0].decode()
            logits.append(out["logits"].numpy()[0])
        whole = serve(waveform=tf.constant(audio), length=tf.constant([audio.shape[1]], tf.int32))
        streamed = np.concatenate(logits)
        differences.append(np.abs(streamed - whole["logits"].numpy()[0][: len(streamed)]).max())
        greedy = ctc_decode(whole["logits"], whole["frame_lengths"], data.info["alphabet"])
        same.append(text == greedy.numpy()[0].decode())
    return {"utterances": len(differences), "max_logit_difference": float(max(differences)),
            "same_text": float(np.mean(same))}


HEADLINE = {"sentiment": ("test_accuracy", "IMDB test accuracy"), "forecasting": ("owa", "M4 Hourly OWA"),
            "ctc_speech": ("cer", "FSDD by-take CER")}


def write_index(present):
    """saved_models/README.md: one line per shipped model, linking its card."""
    rows = []
    for name, entry in present.items():
        model = zoo.load(catalog.SHIPPED_DIR / name)
        key, label = HEADLINE[entry["task"]]
        rows.append((f"[`{name}`]({name}/README.md)", entry["task"], entry["cell"].upper(),
                     f"{label} {cards.format_metric(model.metadata['test_metrics'][key])}",
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
    parser.add_argument("--data-dir", required=True, help="the folder with imdb/, m4_hourly/ and fsdd/")
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
        task, config, data, model, version_dir = ship(spec, [run_dir for run_dir, _ in trained],
                                                      args.data_dir, args.work_dir)
        metrics = zoo.load(version_dir).metadata["test_metrics"]
        if spec.task == "sentiment":
            facts = sentiment_facts(spec, config, data, metrics)
        elif spec.task == "forecasting":
            facts = forecasting_facts(spec, config, data, metrics, model, args.data_dir)
        else:
            facts = speech_facts(spec, config, data, metrics, model, version_dir)
        commands = [shlex.join(["python", *spec.command(seed, args.data_dir)]) for seed in spec.seeds]
        facts.update(command=" ; ".join(commands), build_seconds=sum(wall for _, wall in trained),
                     seeds=", ".join(map(str, spec.seeds)))
        (version_dir.parent / cards.CARD_FILE).write_text(cards.render(zoo.load(version_dir), facts))
        if spec.edge:
            edge.convert(version_dir, ["litert"])  # into 1/edge/, recorded in the card
        install(spec, version_dir.parent)
        print(f"{spec.name}: {catalog.SHIPPED_DIR / spec.name}", flush=True)
    present = {spec.name: {"task": spec.task, "cell": spec.cell} for spec in SHIPPED
               if (catalog.SHIPPED_DIR / spec.name).is_dir()}
    write_manifest(catalog.SHIPPED_DIR, present)
    write_models_config(catalog.SHIPPED_DIR, DOCKER_PREFIX)
    write_index(present)
    print(f"build_zoo: {len(present)} shipped models, {(time.perf_counter() - start) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
