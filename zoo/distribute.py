"""Training on more devices: TensorFlow's distribution strategies and mixed precision for `zoo.training.fit`.

    python train.py --task sentiment --strategy mirrored                 # every local GPU
    TF_CONFIG=... python train.py --task sentiment --strategy multi_worker   # one process per machine
    python train.py --task forecasting --mixed-precision mixed_bfloat16

Strategies (`STRATEGIES`):
- `default`: one device, TensorFlow's default strategy.
- `mirrored`: `tf.distribute.MirroredStrategy` over every local GPU; with no GPU, over
  every logical CPU device (one unless configured: the tests make two).
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, the cluster from
  `TF_CONFIG` (collectives give up after `COLLECTIVE_TIMEOUT_SECONDS`). Training refuses
  it for now, before reading any data: Keras 3.15's `fit` fails under it
  (keras-team/keras#20585, open; here `Model.fit` → `_maybe_symbolic_build` reduces the
  first (x, y) batch with `strategy.reduce`, which MultiWorkerMirroredStrategy cannot do
  for a nested batch: "Attempt to convert a value (PerReplica ...) to a Tensor"), and the
  documented way round, a custom loop over `strategy.run`, would have to rebuild what
  `compile` gives every task (losses, metrics, loss scaling, callbacks).

`--batch-size` stays the global batch: each of N replicas computes batch / N rows of a
step, and the gradients are summed across replicas by the strategy's all-reduce, so N
devices reach the weights one device reaches at the same batch.

Mixed precision (`MIXED_PRECISION`): Keras's dtype policies (`mixed_float16`,
`mixed_bfloat16`): variables stay float32, layers compute in 16 bits, and with
`mixed_float16` Keras wraps the optimizer in its `LossScaleOptimizer` (dynamic loss
scaling) at compile. The zoo's recurrent layers keep their recurrences in float32 (see
`zoo.layers.recurrent`): the state is a running sum over hundreds of steps, which a
16-bit mantissa (bfloat16: 8 bits) would erase. So do the tasks' inputs' scaling, the
speech front end and every output layer (`dtype="float32"` in the task's model), so an
export takes and returns float32 either way and answers as the evaluation did.
"""

import contextlib
import json
import os

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")
MIXED_PRECISION = ("mixed_float16", "mixed_bfloat16")
COLLECTIVE_TIMEOUT_SECONDS = 120


def make_strategy(name="default"):
    """The `tf.distribute.Strategy` called `name` (see the module docstring); ValueError otherwise."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        cluster = os.environ.get("TF_CONFIG")
        if not cluster:
            raise ValueError("--strategy multi_worker takes its cluster from TF_CONFIG, which is not set "
                             "(README: \"Training on more devices and machines\").")
        try:
            json.loads(cluster)["cluster"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"TF_CONFIG is not a cluster description: {cluster[:200]!r}.") from None
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise ValueError(f"--strategy {name}: choose one of {list(STRATEGIES)}.")


@contextlib.contextmanager
def precision(policy=None):
    """Keras's global dtype policy set to `policy` (None: float32) while models are built."""
    if policy not in (None, *MIXED_PRECISION):
        raise ValueError(f"--mixed-precision {policy}: choose one of {list(MIXED_PRECISION)}.")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy or "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
