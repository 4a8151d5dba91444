"""Fingerprints of the zoo's behaviour, for a change that must not change it (a refactor).

    python benchmarks/fingerprints.py > before.json     # on the old tree
    python benchmarks/fingerprints.py > after.json      # on the new one
    diff before.json after.json                          # empty: the same behaviour

For every registered task, a seeded tiny run through the public API (`resolve_config`,
`fit`, `export`, `zoo.load`): its resolved config, per-epoch history, test metrics, a hash
of every trained weight, the export's signatures (inputs and outputs with dtypes and
shapes), the export's answers to its own warm-up inputs and, for a model with a streaming
`step`, the logits of a warm-up utterance streamed chunk by chunk; and a hash of every
file of the shipped models with their answers to their warm-up requests. Floats are
written to 6 significant digits (hashes are of the exact bytes).
"""

import contextlib
import hashlib
import io
import json
import os
import pathlib
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo.layout import read_warmup_requests  # noqa: E402
from zoo.task import get_task, list_tasks, resolve_config  # noqa: E402
from zoo.training import export, fit  # noqa: E402

# The tiny runs: a few steps of each task on its offline data, two epochs.
TINY = {
    "sentiment": dict(data="synthetic", synthetic_train_size=200, synthetic_test_size=40, vocabulary_size=60,
                      sequence_length=12, embedding_dim=4, units=4, batch_size=16, ngrams=2, epochs=2),
    "forecasting": dict(data="synthetic", synthetic_series=4, horizon=6, seasonality=4, input_window=12, units=4,
                        num_layers=1, batch_size=8, quantiles="0.1,0.5,0.9", epochs=2, steps_per_epoch=4),
    "ctc_speech": dict(data="synthetic", train_utterances=8, validation_utterances=4, test_utterances=4, units=8,
                       num_layers=1, conv_filters=8, num_mel_bins=16, subsampling=2, bidirectional=False,
                       batch_size=4, epochs=2),
    "language_model": dict(data="synthetic", synthetic_texts=100, vocabulary_size=60, window_length=12,
                           embedding_dim=8, units=8, batch_size=8, num_sampled=16, epochs=2),
}


def rounded(value):
    if isinstance(value, dict):
        return {str(k): rounded(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(f"{float(value):.6g}")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSU":
            return [v.decode() if isinstance(v, bytes) else str(v) for v in value.ravel().tolist()]
        return {"shape": list(value.shape), "sum": rounded(float(np.sum(value, dtype="float64"))),
                "hash": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:16]}
    return value


def signatures(saved):
    return {name: {"inputs": {k: [v.dtype.name, str(v.shape)] for k, v in saved.input_specs(name).items()},
                   "outputs": {k: [v.dtype.name, str(v.shape)] for k, v in saved.output_specs(name).items()}}
            for name in sorted(saved.signatures)}


def answers(saved):
    """The model's outputs on its own warm-up inputs, and the streamed logits of the first utterance."""
    warmup = dict(read_warmup_requests(saved.path))
    found = {name: rounded(saved(inputs, signature_name=name)) for name, inputs in warmup.items()}
    if "step" in saved.signatures and "waveform" in warmup.get("serving_default", {}):  # a speech model
        inputs = warmup["serving_default"]
        waveform = inputs["waveform"][0, : int(inputs["length"][0])]
        chunk = 320
        state = saved(batch_size=np.int32(1), signature_name="initial_state")["state"]
        logits = []
        for start in range(0, len(waveform) - len(waveform) % chunk, chunk):
            out = saved(audio=waveform[None, start: start + chunk], state=state, signature_name="step")
            state = out["state"]
            logits.append(out["logits"])
        found["streamed_logits"] = rounded(np.concatenate(logits, axis=1))
    return found


def tiny_run(name, folder):
    task = get_task(name)
    config = resolve_config(task, **TINY[name])
    with contextlib.redirect_stdout(io.StringIO()):
        run = fit(task, config, output_dir=folder / "runs", verbose=0)
        path = export(task, run, folder / "exports")
    metrics = {k: v for k, v in run.metrics.items() if k != "train_seconds"}
    saved = zoo.load(path)
    return {
        "config": rounded(run.config), "history": rounded(run.history), "metrics": rounded(metrics),
        "weights": [rounded(w) for w in run.model.get_weights()],
        "signatures": signatures(saved), "answers": answers(saved),
    }


def shipped():
    found = {}
    for folder in sorted((REPO / "saved_models").iterdir()):
        if not folder.is_dir():
            continue
        files = {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
                 for p in sorted(folder.rglob("*")) if p.is_file()}
        saved = zoo.load(folder)
        found[folder.name] = {"files": files, "signatures": signatures(saved), "answers": answers(saved)}
    return found


def main():
    with tempfile.TemporaryDirectory() as folder:
        report = {"tasks": {name: tiny_run(name, pathlib.Path(folder)) for name in list_tasks() if name in TINY},
                  "shipped": shipped()}
    json.dump(report, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
