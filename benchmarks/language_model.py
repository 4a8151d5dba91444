"""Language-model speed: training words/s through Keras's `fit` with the zoo's layers against the same
model with `keras.layers.LSTM`/`GRU`, the sampled softmax against the exact one, and the on-device
step's latency.

    python benchmarks/language_model.py --data-dir ../shared/data/imdb               # about 10 min here
    python benchmarks/language_model.py --data-dir ../shared/data/imdb --edge text-imdb-lstm-lm text-imdb-gru-lm

Training: the language-model task's model (its defaults: vocabulary 16k, embedding 128, 384 units, 70-word
windows, batch 64), built and compiled as `zoo.training` does, on IMDB's training windows. Every
variant runs `--steps` steps of `fit` per round after one warm-up round, the variants interleaved
(zoo, Keras, zoo, Keras, ...) so a burst of load on the shared machine hits all; the words/s of a
variant is the median over `--rounds`, and a ratio is the median of the per-round ratios.
DropConnect (`--weight-dropout`) is off in every variant: Keras's layers have none.

On device: each named export's `step` converted to LiteRT (`zoo.edge`, into a temporary folder), then
`--calls` calls at batch 1 from the zero state, one word each: the median and 95th-percentile latency.
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo import edge  # noqa: E402
from zoo.task import get_task, resolve_config  # noqa: E402
from zoo.training import build_optimizer  # noqa: E402

VARIANTS = {  # name: overrides of the task's defaults
    "zoo lstm": {"cell": "lstm"},
    "keras lstm": {"cell": "keras_lstm"},
    "zoo gru": {"cell": "gru"},
    "keras gru": {"cell": "keras_gru"},
    "zoo lstm, exact softmax": {"cell": "lstm", "num_sampled": 0},
}


def compiled(task, config, data):
    model = task.build_model(config, data)
    model.compile(optimizer=build_optimizer(config, int(data.train.cardinality())), loss=task.build_losses(config))
    return model


def training_speed(data_dir, steps, rounds):
    task = get_task("language_model")
    base = resolve_config(task, data="imdb", data_dir=data_dir, weight_dropout=0.0)
    data = task.build_inputs(base)
    batches = data.train.take(steps).cache()
    list(batches)  # the windows in memory, so every variant reads the same batches
    words = steps * base["batch_size"] * base["window_length"]
    models = {name: compiled(task, task.resolve(resolve_config(task, **{**base, **overrides}), data), data)
              for name, overrides in VARIANTS.items()}
    seconds = {name: [] for name in VARIANTS}
    for round_number in range(rounds + 1):  # round 0: warm-up (tracing), not kept
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(batches, epochs=1, verbose=0)
            if round_number:
                seconds[name].append(time.perf_counter() - start)
    print(f"\n{steps} steps of {base['batch_size']} x {base['window_length']} words, {rounds} rounds "
          f"(vocabulary {data.info['vocabulary_size']:,}, embedding {base['embedding_dim']}, {base['units']} units)\n")
    print("| variant | parameters | words/s (median) | time vs zoo lstm (median of rounds) |")
    print("|---|---|---|---|")
    for name, times in seconds.items():
        ratio = statistics.median(t / z for t, z in zip(times, seconds["zoo lstm"]))
        print(f"| {name} | {models[name].count_params():,} | {words / statistics.median(times):,.0f} | {ratio:.2f} |")
    for zoo_name, keras_name in (("zoo lstm", "keras lstm"), ("zoo gru", "keras gru")):
        ratio = statistics.median(z / k for z, k in zip(seconds[zoo_name], seconds[keras_name]))
        print(f"\n{zoo_name} / {keras_name} time: {ratio:.2f} (median of per-round ratios)")


def step_latency(names, calls):
    print("\n| model | LiteRT step file | median ms | p95 ms |\n|---|---|---|---|")
    for name in names:
        with tempfile.TemporaryDirectory() as folder:
            (item,) = [f for f in edge.convert(zoo.load(name).path, ["litert"], output_dir=folder)
                       if f.path.suffix == ".tflite"]
            step = edge.EdgeModel(item.path)
            state = np.zeros(step.inputs["state"][0], "float32")
            token = np.array([2], "int32")
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                state = step(token=token, state=state)["next_state"]
                times.append((time.perf_counter() - start) * 1e3)
            times = np.array(times[10:])
            print(f"| {name} | {item.path.stat().st_size / 1e6:.1f} MB | {np.median(times):.3f} | "
                  f"{np.percentile(times, 95):.3f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="IMDB (train/unsup/test CSV) for the training speed")
    parser.add_argument("--steps", type=int, default=40, help="training steps per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--edge", nargs="*", default=[], help="exported language models whose LiteRT step to time")
    parser.add_argument("--calls", type=int, default=2000, help="step calls per model")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    if args.data_dir:
        training_speed(args.data_dir, args.steps, args.rounds)
    if args.edge:
        step_latency(args.edge, args.calls)


if __name__ == "__main__":
    main()
