"""Speed of zoo.GRU / zoo.LSTM against Keras's built-in layers, in one process.

For each configuration, three steps are timed for both implementations,
alternating A/B so machine noise hits both alike; the median of `--repeats` runs
after warm-up is kept, and the ratio is the median of the per-round ratios (each
zoo run against the Keras run next to it), which a burst of load on the shared
machine moves less than a ratio of medians:

* train: forward, backward and Adam update of the layer and a Dense head, the
  inputs being data (as for a first layer fed raw features): nobody needs ∂L/∂x;
* train_dx: the same, also computing ∂L/∂x (as for a layer fed by an embedding
  or by another recurrent layer);
* infer: the forward pass.

    python benchmarks/layer_speed.py                      # the full grid
    python benchmarks/layer_speed.py --quick              # a smoke run
    python benchmarks/layer_speed.py --output benchmarks/layer_speed.csv
    ZOO_BENCH_GRID=128x200 python benchmarks/layer_speed.py --keras-cudnn           # GPU: cuDNN vs cuDNN
    ZOO_BENCH_GRID=128x200 python benchmarks/layer_speed.py --keras-cudnn --zoo-use-cudnn false
                                                    # GPU: the fused loops (XLA) vs Keras's cuDNN

Ratios below 1 mean the zoo layer is faster. GFLOP/s counts the matmul work a
step needs, for G gates: forward F = 2·B·T·(D+U)·G·U; backward ∂W, ∂U and the
chain ∂h₋ = 2·B·T·(D+2U)·G·U, plus 2·B·T·D·G·U for ∂x in train_dx. (Keras's
layer computes ∂x in both training steps; the zoo's backward pass skips it when
the graph does not use it.)
"""

import argparse
import csv
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

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
    def train_step_with_input_gradient(x, y):
        # As for a layer fed by an embedding or another recurrent layer: the
        # gradient must flow on to the inputs, so ∂L/∂x is computed too.
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_mean(tf.square(head(layer(x, training=True)) - y))
        *gradients, input_gradient = tape.gradient(loss, variables + [x])
        optimizer.apply(gradients, variables)
        return loss + 0.0 * tf.reduce_sum(input_gradient)

    @tf.function
    def infer_step(x):
        return layer(x, training=False)

    return train_step, train_step_with_input_gradient, infer_step


def matmul_peak_gflops(size=2048, repeats=5):
    """GFLOP/s of one large float32 matmul: the ceiling the layers' matmuls run against."""
    a = tf.random.normal((size, size), seed=3)
    b = tf.random.normal((size, size), seed=4)
    product = tf.function(lambda: tf.matmul(a, b))
    product()
    seconds = min(time_once(product) for _ in range(repeats))
    return 2 * size**3 / seconds / 1e9


def time_once(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    np.asarray(result)  # wait for the value
    return time.perf_counter() - start


def measure(cell, units, steps, repeats, warmup, zoo_cudnn="auto", keras_cudnn=False):
    zoo_class, keras_class, kwargs, gates = CELLS[cell]
    x = tf.random.normal((BATCH, steps, FEATURES), seed=1)
    y = tf.random.normal((BATCH, steps, 1), seed=2)
    ours = make_steps(zoo_class, {**kwargs, "use_cudnn": zoo_cudnn}, units, steps)
    theirs = make_steps(
        keras_class, {**kwargs, "use_cudnn": keras_cudnn}, units, steps
    )
    row = {"cell": cell, "units": units, "time_steps": steps}
    forward_flops = 2 * BATCH * steps * (FEATURES + units) * gates * units
    backward_flops = 2 * BATCH * steps * (FEATURES + 2 * units) * gates * units
    input_gradient_flops = 2 * BATCH * steps * FEATURES * gates * units
    for phase, index, args, flops in (
        ("train", 0, (x, y), forward_flops + backward_flops),
        ("train_dx", 1, (x, y), forward_flops + backward_flops + input_gradient_flops),
        ("infer", 2, (x,), forward_flops),
    ):
        for _ in range(warmup):
            time_once(ours[index], *args)
            time_once(theirs[index], *args)
        zoo_times, keras_times = [], []
        pair = [(ours, zoo_times), (theirs, keras_times)]
        for round_index in range(repeats):
            for implementation, times in pair[:: 1 if round_index % 2 == 0 else -1]:
                times.append(time_once(implementation[index], *args))  # first one alternates
        zoo_ms = 1e3 * statistics.median(zoo_times)
        keras_ms = 1e3 * statistics.median(keras_times)
        row[f"{phase}_zoo_ms"] = round(zoo_ms, 2)
        row[f"{phase}_keras_ms"] = round(keras_ms, 2)
        row[f"{phase}_ratio"] = round(
            statistics.median(z / k for z, k in zip(zoo_times, keras_times)), 3
        )
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
    parser.add_argument("--keras-cudnn", action="store_true",
                        help="Keras's layers with use_cudnn=True (on a GPU: the cuDNN path to beat)")
    parser.add_argument("--zoo-use-cudnn", choices=["auto", "false"], default="auto",
                        help="the zoo layers' use_cudnn (false on a GPU: the fused loops, XLA-compiled)")
    args = parser.parse_args()
    grid = [(32, 20)] if args.quick else GRID
    repeats = 3 if args.quick else args.repeats

    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, batch {BATCH}, "
          f"features {FEATURES}, median of {repeats} after {args.warmup} warm-up; "
          f"one large matmul here: {matmul_peak_gflops():.0f} GFLOP/s")
    phases = ("train", "train_dx", "infer")
    header = ["cell", "units", "T"]
    for phase in phases:
        header += [f"{phase} zoo ms", "keras ms", "ratio", "GFLOP/s zoo/keras"]
    print(" | ".join(header))
    rows = []
    for cell in args.cells:
        for units, steps in grid:
            row = measure(cell, units, steps, repeats, args.warmup, zoo_cudnn="auto" if args.zoo_use_cudnn == "auto"
                          else False, keras_cudnn=args.keras_cudnn)
            rows.append(row)
            fields = [cell, units, steps]
            for phase in phases:
                fields += [row[f"{phase}_zoo_ms"], row[f"{phase}_keras_ms"], row[f"{phase}_ratio"],
                           f"{row[f'{phase}_zoo_gflops']}/{row[f'{phase}_keras_gflops']}"]
            print(" | ".join(map(str, fields)), flush=True)
    if args.output:
        with open(args.output, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
