"""On-device files against the SavedModel: size, batch-1 latency and the task's metric, per task.

    python benchmarks/edge.py --data-dir ../shared/data

For each model (default: the shipped sentiment-imdb-gru, forecasting-m4-hourly-gru and
ctc_speech-fsdd-gru) it converts the export with `zoo.edge` into --work-dir (LiteRT and
ONNX, and LiteRT with --quantize dynamic), then, in this one process:

- sizes: the SavedModel version folder, and each file (sentiment's vocabularies apart);
- latency, batch 1: a whole input (a review, a 336-value history, a 2-4 s utterance:
  the SavedModel's serving_default against the edge step run over all its 40 ms chunks)
  and, for speech, one streaming step. Runtimes take turns in rounds of --calls calls,
  --rounds times, and the median call of all rounds is reported; LiteRT and ONNX Runtime
  run on one thread, TensorFlow as it comes (all cores);
- the metric, with --data-dir: IMDB test accuracy on --reviews reviews (the edge files get
  the token ids of the SavedModel's own vectorizers), M4 Hourly OWA on all 414 series,
  and greedy CER on --utterances composed FSDD test utterances (takes 0-4), streamed.
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import zoo  # noqa: E402
from tasks.ctc_speech.ctc import decode_labels, error_rates  # noqa: E402
from tasks.ctc_speech.data import load_fsdd, split_fsdd  # noqa: E402
from tasks.ctc_speech.streaming import greedy_text, stream_logits  # noqa: E402
from tasks.forecasting import m4  # noqa: E402
from tasks.sentiment.data import load_imdb  # noqa: E402
from zoo import edge  # noqa: E402
from zoo.cards import markdown_table, size_on_disk  # noqa: E402
from zoo.edge import EdgeModel  # noqa: E402
from zoo.layout import read_warmup_requests  # noqa: E402

MODELS = ["sentiment-imdb-gru", "forecasting-m4-hourly-gru", "ctc_speech-fsdd-gru"]


def convert(name, work_dir):
    """{runtime label: path} of the model's edge files, converted once into work_dir."""
    files = {}
    for variant, formats, quantize in (("float", ["litert", "onnx"], None), ("int8", ["litert"], "dynamic")):
        folder = work_dir / name / variant
        if not (folder / "edge.json").exists():
            started = time.perf_counter()
            edge.convert(name, formats, quantize, output_dir=folder)
            print(f"{name}: converted {variant} in {time.perf_counter() - started:.1f} s", flush=True)
        for path in sorted(folder.glob("*.tflite")) + sorted(folder.glob("*.onnx")):
            label = {"float.tflite": "LiteRT", "float.onnx": "ONNX Runtime", "int8.tflite": "LiteRT int8"}
            files[(label[f"{variant}{path.suffix}"], path.stem)] = path
    return files


def interleaved(calls, rounds, per_round):
    """{label: median seconds per call} of `calls` ({label: function}), run in turns."""
    times = {label: [] for label in calls}
    for function in calls.values():
        function()  # warm-up
    for _ in range(rounds):
        for label, function in calls.items():
            for _ in range(per_round):
                started = time.perf_counter()
                function()
                times[label].append(time.perf_counter() - started)
    return {label: float(np.median(values)) for label, values in times.items()}




def sentiment(saved, files, args):
    from tasks.sentiment.task import edge_inputs

    task, config, rebuilt = edge.rebuild(saved)
    models = {label: EdgeModel(path) for (label, _), path in files.items()}
    text = [t.decode() for t in dict(read_warmup_requests(saved.path))["serving_default"]["text"]][0]
    inputs = edge_inputs(rebuilt, config, text)
    calls = {"SavedModel": lambda: saved(text=[text])}
    calls.update({label: (lambda m=model: m(**inputs)) for label, model in models.items()})
    latency = {"whole input (one review)": interleaved(calls, args.rounds, args.calls)}
    metric = {}
    if args.data_dir:
        _, test = load_imdb(args.data_dir / "imdb")
        rng = np.random.default_rng(0)
        sample = [test[i] for i in rng.choice(len(test), args.reviews, replace=False)]
        labels = np.array([label for _, label, *_ in sample])
        metric["SavedModel"] = float(np.mean(np.concatenate(
            [saved(text=[t for t, *_ in sample[i : i + 256]])["probabilities"].argmax(-1)
             for i in range(0, len(sample), 256)]) == labels))
        encoded = [edge_inputs(rebuilt, config, t) for t, *_ in sample]
        for label, model in models.items():
            predictions = np.array([model(**x)["probabilities"][0].argmax() for x in encoded])
            metric[label] = float(np.mean(predictions == labels))
    return latency, ("IMDB test accuracy", f"{args.reviews} reviews", metric)


def forecasting(saved, files, args):
    models = {label: EdgeModel(path) for (label, _), path in files.items()}
    history = dict(read_warmup_requests(saved.path))["serving_default"]["history"][:1]
    calls = {"SavedModel": lambda: saved(history=history)}
    calls.update({label: (lambda m=model: m(history=history)) for label, model in models.items()})
    latency = {f"whole input ({history.shape[1]}-value history)": interleaved(calls, args.rounds, args.calls)}
    metric = {}
    if args.data_dir:
        series, _ = m4.load_m4(args.data_dir / "m4_hourly")
        window = saved.metadata["config"]["input_window"]
        histories = [np.asarray(insample[-window:], "float32")[None] for insample in series.insamples]
        forecasts = {"SavedModel": np.concatenate([saved(history=h)["forecast"] for h in histories])}
        for label, model in models.items():
            forecasts[label] = np.concatenate([model(history=h)["forecast"] for h in histories])
        metric = {label: m4.forecast_scores(series, values)["model"]["owa"] for label, values in forecasts.items()}
    return latency, ("M4 Hourly OWA", "414 series", metric)


def speech(saved, files, args):
    from tasks.ctc_speech.settings import DIGITS
    from tasks.ctc_speech.utterances import (
        SAMPLE_RATE,
        RecordedSpeakers,
        SyntheticSpeakers,
        random_utterance,
    )

    steps = {label: EdgeModel(path) for (label, _), path in files.items()}
    warmup = dict(read_warmup_requests(saved.path))["serving_default"]
    length = int(warmup["length"][0])
    waveform = warmup["waveform"][0, :length]
    (_, chunk), _ = next(iter(steps.values())).inputs["audio"]
    state = saved(batch_size=1, signature_name="initial_state")["state"]
    audio = waveform[None, :chunk]
    whole = {"SavedModel": lambda: saved(waveform=waveform[None], length=[length])}
    whole.update({label: (lambda s=step: stream_logits(s, waveform)) for label, step in steps.items()})
    one = {"SavedModel": lambda: saved(audio=audio, state=state, signature_name="step")}
    zeros = np.zeros([1, next(iter(steps.values())).inputs["state"][0][1]], "float32")
    one.update({label: (lambda s=step: s(audio=audio, state=zeros)) for label, step in steps.items()})
    latency = {
        f"whole input ({length / SAMPLE_RATE:.1f} s utterance; edge: streamed)": interleaved(whole, args.rounds, 5),
        f"one streaming step ({1000 * chunk // SAMPLE_RATE} ms of audio)": interleaved(one, args.rounds, args.calls),
    }
    metric = {}
    if args.data_dir:
        speakers = RecordedSpeakers(split_fsdd(load_fsdd(args.data_dir / "fsdd", SAMPLE_RATE))[2])
    else:
        speakers = SyntheticSpeakers()
    rng = np.random.default_rng([0, 2])
    utterances = [random_utterance(speakers, rng, 7) for _ in range(args.utterances)]
    references = [decode_labels(u.labels, DIGITS) for u in utterances]
    hypotheses = {"SavedModel": []}
    for u in utterances:
        out = saved(waveform=u.waveform[None], length=[len(u.waveform)])
        hypotheses["SavedModel"].append(greedy_text(out["logits"][0, : int(out["frame_lengths"][0])], DIGITS))
    for label, step in steps.items():
        hypotheses[label] = [greedy_text(stream_logits(step, u.waveform), DIGITS)
                             for u in utterances]
    metric = {label: 100 * error_rates(references, texts, DIGITS)["cer"] for label, texts in hypotheses.items()}
    source = "FSDD test takes" if args.data_dir else "synthetic voices"
    return latency, ("greedy CER %", f"{args.utterances} composed utterances ({source})", metric)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--data-dir", type=pathlib.Path, help="the shared data folder (imdb, m4_hourly, fsdd)")
    parser.add_argument("--work-dir", type=pathlib.Path, default=pathlib.Path("/tmp/edge-benchmark"))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=50, help="calls per runtime per round")
    parser.add_argument("--reviews", type=int, default=1000)
    parser.add_argument("--utterances", type=int, default=100)
    args = parser.parse_args(argv)
    measure = {"sentiment": sentiment, "forecasting": forecasting, "ctc_speech": speech}
    report = {}
    for name in args.models:
        saved = zoo.load(name)
        files = convert(name, args.work_dir)
        latency, (metric_name, metric_data, metric) = measure[saved.metadata["task"]](saved, files, args)
        sizes = {"SavedModel": size_on_disk(saved.path) - size_on_disk(saved.path / edge.EDGE_DIR)}
        sizes.update({label: path.stat().st_size for (label, _), path in files.items()})
        report[name] = {"sizes": sizes, "latency": latency, "metric": [metric_name, metric_data, metric]}
        print(json.dumps({name: report[name]}, indent=1), flush=True)

    runtimes = ["SavedModel", "LiteRT", "ONNX Runtime", "LiteRT int8"]
    rows = []
    for name, result in report.items():
        for what, times in result["latency"].items():
            rows.append((name, what, *(f"{1000 * times[r]:.3f}" for r in runtimes)))
        rows.append((name, "size, MB", *(f"{result['sizes'][r] / 1e6:.2f}" for r in runtimes)))
        metric_name, metric_data, metric = result["metric"]
        if metric:
            rows.append((name, f"{metric_name} ({metric_data})", *(f"{metric[r]:.4g}" for r in runtimes)))
    print("\n".join(markdown_table(("model", "measure (latency: ms per call, median)", *runtimes), rows)))


if __name__ == "__main__":
    sys.exit(main())
