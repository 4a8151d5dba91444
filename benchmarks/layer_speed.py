"""Speed of zoo.GRU / zoo.LSTM against Keras's built-in layers, in one process.

For each configuration, a training step (forward, backward, Adam update) and an
inference step are timed for both implementations, alternating A/B so machine
noise hits both alike; the median of `--repeats` runs after warm-up is kept.

    python benchmarks/layer_speed.py                      # the full grid
    python benchmarks/layer_speed.py --quick              # a smoke run
    python benchmarks/layer_speed.py --output benchmarks/layer_speed.csv

Ratios below 1 mean the zoo layer is faster. GFLOP/s counts the matmul work
only: forward 2·B·T·(D+U)·G·U for G gates, a training step 3x that.
"""

import argparse
import csv
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import zoo  # noqa: E402

BATCH, FEATURES = 64, 128
GRID = [(128, 50), (128, 200), (128, 800), (256, 200)]  # (units, time steps)
if os.environ.get("ZOO_BENCH_GRID"):
    GRID = [tuple(map(int, item.split("x"))) for item in os.environ["ZOO_BENCH_GRID"].split(",")]
CELLS = {
    "gru": (zoo.GRU, keras.layers.GRU, {"reset_after": True}, 3),
    "gru_reset_before": (zoo.GRU, keras.layers.GRU, {"reset_after": False}, 3),
    "lstm": (zoo.LSTM, keras.layers.LSTM, {}, 4),
}


def make_steps(layer_class, kwargs, units, steps):
    layer = layer_class(units, return_sequences=True, **kwargs)
    head = keras.layers.Dense(1)
    layer.build((BATCH, steps, FEATURES))
    head.build((BATCH, steps, units))
    variables = layer.trainable_variables + head.trainable_variables
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(variables)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(head(layer(x, training=True)) - y))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    @tf.function
    def infer_step(x):
        return layer(x, training=False)

    return train_step, infer_step


def time_once(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    np.asarray(result)  # wait for the value
    return time.perf_counter() - start


def measure(cell, units, steps, repeats, warmup):
    zoo_class, keras_class, kwargs, gates = CELLS[cell]
    x = tf.random.normal((BATCH, steps, FEATURES), seed=1)
    y = tf.random.normal((BATCH, steps, 1), seed=2)
    ours = make_steps(zoo_class, kwargs, units, steps)
    theirs = make_steps(
        keras_class, {**kwargs, "use_cudnn": False}, units, steps
    )
    row = {"cell": cell, "units": units, "time_steps": steps}
    forward_flops = 2 * BATCH * steps * (FEATURES + units) * gates * units
    for phase, index, args, flops in (
        ("train", 0, (x, y), 3 * forward_flops),
        ("infer", 1, (x,), forward_flops),
    ):
        for _ in range(warmup):
            time_once(ours[index], *args)
            time_once(theirs[index], *args)
        zoo_times, keras_times = [], []
        for _ in range(repeats):
            zoo_times.append(time_once(ours[index], *args))
            keras_times.append(time_once(theirs[index], *args))
        zoo_ms = 1e3 * statistics.median(zoo_times)
        keras_ms = 1e3 * statistics.median(keras_times)
        row[f"{phase}_zoo_ms"] = round(zoo_ms, 2)
        row[f"{phase}_keras_ms"] = round(keras_ms, 2)
        row[f"{phase}_ratio"] = round(zoo_ms / keras_ms, 3)
        row[f"{phase}_zoo_gflops"] = round(flops / zoo_ms / 1e6, 1)
        row[f"{phase}_keras_gflops"] = round(flops / keras_ms / 1e6, 1)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small config per cell")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--output", help="also write the rows to this CSV file")
    args = parser.parse_args()
    grid = [(32, 20)] if args.quick else GRID
    repeats = 3 if args.quick else args.repeats

    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, batch {BATCH}, "
          f"features {FEATURES}, median of {repeats} after {args.warmup} warm-up")
    header = ("cell", "units", "T", "train zoo ms", "keras ms", "ratio",
              "infer zoo ms", "keras ms", "ratio", "train GFLOP/s zoo/keras")
    print(" | ".join(header))
    rows = []
    for cell in args.cells:
        for units, steps in grid:
            row = measure(cell, units, steps, repeats, args.warmup)
            rows.append(row)
            print(f"{cell} | {units} | {steps} | {row['train_zoo_ms']} | "
                  f"{row['train_keras_ms']} | {row['train_ratio']} | {row['infer_zoo_ms']} | "
                  f"{row['infer_keras_ms']} | {row['infer_ratio']} | "
                  f"{row['train_zoo_gflops']}/{row['train_keras_gflops']}", flush=True)
    if args.output:
        with open(args.output, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
