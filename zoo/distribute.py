"""Training on more devices: TensorFlow's distribution strategies and mixed precision for `zoo.training.fit`.

    python train.py --task sentiment --strategy mirrored                 # every local GPU
    TF_CONFIG=... python train.py --task sentiment --strategy multi_worker   # one process per machine
    python train.py --task forecasting --mixed-precision mixed_bfloat16

Strategies (`STRATEGIES`):
- `default`: one device, TensorFlow's default strategy.
- `mirrored`: `tf.distribute.MirroredStrategy` over every local GPU; with no GPU, over
  every logical CPU device (one unless configured: the tests make two).
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, the cluster from
  `TF_CONFIG`, one process per machine running the same command. Keras 3's `fit` fails
  under it (keras-team/keras#20585, open: `Model.fit` reduces the first (x, y) batch with
  `strategy.reduce`, "Attempt to convert a value (PerReplica ...) to a Tensor", and its
  metric reduction then fails "Invalid reduction dimension 0 for input with 0
  dimensions"), so `fit_in_loop` trains there instead: the documented custom loop,
  `strategy.run(model.train_step)` over `strategy.experimental_distribute_dataset`, with
  the model's own compiled losses, metrics, optimizer and loss scaling, and Keras's
  callbacks. Each worker reads its shard of each global batch (`AutoShardPolicy.DATA`:
  the tasks' datasets are built in memory, not from files). Only the chief (TF_CONFIG's
  `chief`, else `worker` 0) writes the run folder and the export; every other worker
  keeps its run folder (backup, logs, checkpoints) under `<output_dir>/worker-<i>/`,
  which `--resume` continues from and which is deleted when the run ends. A lost worker
  fails the collectives within `COLLECTIVE_TIMEOUT_SECONDS` (environment variable
  `ZOO_COLLECTIVE_TIMEOUT_SECONDS` to change it) and the run stops with `WorkerLost`.

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
import pathlib
import re
import socket

import keras
import tensorflow as tf

from zoo.run_options import MIXED_PRECISION, STRATEGIES

COLLECTIVE_TIMEOUT_SECONDS = int(os.environ.get("ZOO_COLLECTIVE_TIMEOUT_SECONDS", 120))
# What TensorFlow raises in a collective whose peer has gone.
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
               tf.errors.AbortedError, tf.errors.InternalError)


class WorkerLost(RuntimeError):
    """A multi-worker run stopped because a worker stopped answering."""


def make_strategy(name="default"):
    """The `tf.distribute.Strategy` called `name` (see the module docstring); ValueError otherwise."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        cluster_config()
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise ValueError(f"--strategy {name}: choose one of {list(STRATEGIES)}.")


def _checked_policy(policy):
    """`policy` when it is None or one of MIXED_PRECISION; ValueError otherwise."""
    if policy not in (None, *MIXED_PRECISION):
        raise ValueError(f"--mixed-precision {policy}: choose one of {list(MIXED_PRECISION)}.")
    return policy


# The oldest NVIDIA GPUs (compute capability) that compute each 16-bit type natively.
NATIVE_16_BIT = {"mixed_float16": (5, 3), "mixed_bfloat16": (8, 0)}


def check_precision(policy, gpu_capabilities=None):
    """ValueError when a visible GPU cannot compute `policy`'s 16-bit type (float16 before
    compute capability 5.3, bfloat16 before Ampere's 8.0); a note, returned, where it runs but
    gains nothing (float16 on CPU, which has no float16 arithmetic). `gpu_capabilities`:
    (major, minor) per GPU, by default those TensorFlow sees."""
    if _checked_policy(policy) is None:
        return None
    if gpu_capabilities is None:
        gpu_capabilities = [tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
                            for gpu in tf.config.list_physical_devices("GPU")]
    needed = NATIVE_16_BIT[policy]
    too_old = [capability for capability in gpu_capabilities if tuple(capability) < needed]
    if too_old:
        raise ValueError(
            f"--mixed-precision {policy}: a GPU here has compute capability {'.'.join(map(str, too_old[0]))}; "
            f"{policy.removeprefix('mixed_')} needs {'.'.join(map(str, needed))} or newer"
            + ("; try mixed_float16" if policy == "mixed_bfloat16" else "") + ", or leave the flag out (float32)."
        )
    if not gpu_capabilities and policy == "mixed_float16":
        return ("note: mixed_float16 on CPU: CPUs have no float16 arithmetic, so this runs slower than float32 "
                "(mixed_bfloat16 is the CPU's 16-bit type).")
    return None


@contextlib.contextmanager
def precision(policy=None):
    """Keras's global dtype policy set to `policy` (None: float32) while models are built."""
    _checked_policy(policy)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy or "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


# ------------------------------------------------------------ several machines


def cluster_config():
    """TF_CONFIG, parsed and checked: {"cluster": {type: ["host:port", ...]}, "task": {"type", "index"}}.
    ValueError naming what is wrong (README: "Training on more devices and machines")."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ValueError("--strategy multi_worker takes its cluster from TF_CONFIG, which is not set "
                         "(README: \"Training on more devices and machines\").")
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        task_type, index = task["type"], task["index"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"TF_CONFIG is not a cluster description with a task: {text[:200]!r}; "
                         'expected {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
                         '"index": 0}}.') from None
    if not isinstance(cluster, dict) or not all(isinstance(hosts, list) for hosts in cluster.values()):
        raise ValueError(f"TF_CONFIG: cluster must map a job to a list of \"host:port\", got {cluster!r}.")
    for job, hosts in cluster.items():
        for host in hosts:
            if not (isinstance(host, str) and host.rpartition(":")[2].isdigit() and host.rpartition(":")[0]):
                raise ValueError(f"TF_CONFIG: cluster.{job} has {host!r}; each address is \"host:port\".")
    if task_type not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise ValueError(f"TF_CONFIG: task {task!r} is not in the cluster {sorted(cluster)} "
                         f"({ {job: len(hosts) for job, hosts in cluster.items()} } tasks).")
    return config


def is_chief():
    """Whether this process writes the run and the export: no multi-worker cluster, or
    TF_CONFIG's chief (its `chief` task, else `worker` 0)."""
    if not os.environ.get("TF_CONFIG"):
        return True
    config = cluster_config()
    task_type, index = config["task"]["type"], config["task"]["index"]
    return task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in config["cluster"])


def local_cluster(workers):
    """TF_CONFIG for each of `workers` processes on this machine (127.0.0.1, free ports): a
    multi-worker cluster to try `--strategy multi_worker` on one machine with."""
    sockets = [socket.socket() for _ in range(workers)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        hosts = [f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    return [json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})
            for index in range(workers)]


def worker_output_dir(output_dir):
    """Where a worker that is not the chief keeps its run folders: `<output_dir>/worker-<i>`."""
    return pathlib.Path(output_dir) / f"worker-{cluster_config()['task']['index']}"


def distributed(dataset, strategy):
    """`dataset` (global batches) split among the replicas, each worker reading its shard."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def adopt_chief_state(strategy, model, first_epoch):
    """The chief's weights, optimizer state and first epoch, on every worker (one all-reduce in
    which the other replicas add zeros); returns the first epoch. A resumed run restores
    from the chief's backup only: the other workers' files may be missing or torn."""
    variables = [*model.weights, *model.optimizer.variables]

    def chief_values():
        context = tf.distribute.get_replica_context()
        is_first = tf.equal(context.replica_id_in_sync_group, 0)
        values = []
        for value in [*(tf.convert_to_tensor(v.value) for v in variables), tf.constant(first_epoch, tf.int64)]:
            values.append(context.all_reduce("SUM", tf.where(is_first, value, tf.zeros_like(value))))
        return values

    values = strategy.experimental_local_results(strategy.run(tf.function(chief_values)))[0]
    for variable, value in zip(variables, values):
        variable.assign(value)
    return int(values[-1])


def fit_in_loop(model, strategy, train, validation, epochs, callbacks, verbose=1):
    """What `model.fit(train, validation_data=validation, epochs=..., callbacks=...)` does,
    as a custom loop over `strategy.run(model.train_step)` (see the module docstring);
    returns the `keras.callbacks.History`. The model is compiled in `strategy`'s scope.
    Raises `WorkerLost` when a worker stops answering."""
    with strategy.scope():  # the compiled losses, metrics and optimizer slots: mirrored, built here
        x, y = next(iter(validation))[:2]  # (a training batch would use up one of its reshuffles)
        predictions = model(x)
        model.compute_loss(x, y, predictions)
        model.compute_metrics(x, y, predictions)
        model.optimizer.build(model.trainable_variables)
    # Made once: each epoch iterates it anew, as fit does (a dataset that reshuffles or redraws
    # each iteration counts them per dataset object).
    train_batches, validation_batches = distributed(train, strategy), distributed(validation, strategy)
    train_step = tf.function(lambda batch: strategy.run(model.train_step, args=(batch,)))
    test_step = tf.function(lambda batch: strategy.run(model.test_step, args=(batch,)))
    history = keras.callbacks.History()
    steps = int(train.cardinality()) if train.cardinality() > 0 else None
    callback_list = keras.callbacks.CallbackList([*callbacks, history], add_progbar=verbose != 0, model=model,
                                                 verbose=verbose, epochs=epochs, steps=steps)
    model.stop_training = False
    try:
        callback_list.on_train_begin()  # the chief's BackupAndRestore restores a resumed run here
        first_epoch = adopt_chief_state(strategy, model, getattr(model, "_initial_epoch", None) or 0)
        for epoch in range(first_epoch, epochs):
            model.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            for step, batch in enumerate(train_batches):
                callback_list.on_train_batch_begin(step)
                train_step(batch)
                callback_list.on_train_batch_end(step)
            logs = {name: float(value) for name, value in model.get_metrics_result().items()}
            model.reset_metrics()
            for batch in validation_batches:
                test_step(batch)
            logs.update({f"val_{name}": float(value) for name, value in model.get_metrics_result().items()})
            callback_list.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        callback_list.on_train_end(logs)
    except PEER_ERRORS as error:
        message = " ".join(re.sub(r"\{\{.*?\}\}", "", str(error)).split())[:300]  # without TF's node names
        raise WorkerLost(f"a worker stopped answering ({type(error).__name__}: {message}); every worker "
                         "must run until the end. Rerun every worker with --resume to continue "
                         "from the last finished epoch.") from None
    return history
