"""Training steps per second on one device, on two replicas of one machine
(`MirroredStrategy` over two logical CPU devices) and on two local workers
(`MultiWorkerMirroredStrategy`, `zoo.distribute.fit_in_loop`), at the same global batch.

    python benchmarks/distribute.py                 # 3 interleaved rounds
    python benchmarks/distribute.py --rounds 1 --steps 10

Each configuration runs in fresh processes (devices are fixed when TensorFlow starts),
one after the other within each round, so the machine's noise hits all of them alike.
The model: zoo.GRU(64) over T=100 steps of 32 features, Dense(1), Adam; global batch 64.
The second epoch is timed (the first traces). On a machine whose every core already
serves one process, replicas share the same cores: expect no speed-up there.
"""

import argparse
import os
import statistics
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo import distribute  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = ("one device", "mirrored, 2 logical CPUs", "multi_worker, 2 local workers")

TRAIN = """
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
if {logical_devices} > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * {logical_devices})
import keras, numpy as np
from zoo import distribute
from zoo.layers import GRU
strategy = distribute.make_strategy("{strategy}")
x = np.random.default_rng(0).normal(size=({steps} * 64, 100, 32)).astype("float32")
y = np.random.default_rng(1).normal(size=({steps} * 64, 1)).astype("float32")
data = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
with strategy.scope():
    inputs = keras.Input((100, 32))
    model = keras.Model(inputs, keras.layers.Dense(1)(GRU(64)(inputs)))
    model.compile(optimizer="adam", loss="mse")

class EpochTimer(keras.callbacks.Callback):
    seconds = []
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)

if "{strategy}" == "multi_worker":
    distribute.fit_in_loop(model, strategy, data, data.take(1), 2, [EpochTimer()], verbose=0)
else:
    model.fit(data, validation_data=data.take(1), epochs=2, callbacks=[EpochTimer()], verbose=0)
print("STEPS_PER_SECOND", {steps} / EpochTimer.seconds[-1])
"""


def steps_per_second(config, steps):
    strategy, logical_devices, workers = {
        CONFIGS[0]: ("default", 1, 1), CONFIGS[1]: ("mirrored", 2, 1), CONFIGS[2]: ("multi_worker", 1, 2),
    }[config]
    code = textwrap.dedent(TRAIN.format(strategy=strategy, logical_devices=logical_devices, steps=steps))
    tf_configs = distribute.local_cluster(workers)
    processes = []
    for index in range(workers):
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        if workers > 1:
            env["TF_CONFIG"] = tf_configs[index]
        processes.append(subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = [process.communicate(timeout=900)[0] for process in processes]
    line = next((line for line in outputs[0].splitlines() if line.startswith("STEPS_PER_SECOND")), None)
    if line is None:
        sys.exit(f"{config} failed:\n{outputs[0][-3000:]}")
    return float(line.split()[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="training steps per epoch")
    args = parser.parse_args(argv)
    results = {config: [] for config in CONFIGS}
    for round_index in range(args.rounds):
        for config in CONFIGS:
            results[config].append(steps_per_second(config, args.steps))
            print(f"round {round_index + 1}: {config}: {results[config][-1]:.2f} steps/s", flush=True)
    base = statistics.median(results[CONFIGS[0]])
    print("\n| configuration | steps/s (median) | vs one device |\n|---|---|---|")
    for config, values in results.items():
        print(f"| {config} | {statistics.median(values):.2f} | {statistics.median(values) / base:.2f}x |")


if __name__ == "__main__":
    main()
