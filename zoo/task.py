"""The interface every task in `tasks/` implements, and the task registry.

A task turns raw data into `tf.data` pipelines, builds its model (preprocessing
inside, so the export takes raw inputs), names its loss and metrics, computes its
test metrics, and says what its SavedModel's signatures are. The training loop
(`zoo.training`) and export (`zoo.export`) are shared and know no task.

Tasks are modules `tasks/<name>.py` holding a `TASK` object; the registry finds
them by name, so adding a task is adding a module.
"""

import dataclasses
import fnmatch
import importlib
import pkgutil


@dataclasses.dataclass
class Data:
    """A task's data: batched `(inputs, targets)` datasets and what they are."""

    train: object
    validation: object
    test: object
    description: str  # one line for the user: which data, how many examples
    info: dict = dataclasses.field(default_factory=dict)  # goes into the export metadata
    reference: object = None  # what `evaluate` needs beyond the test batches; not exported


class Task:
    """Base class; subclasses override the `build_*` methods."""

    name = None
    # Hyperparameters a user can override with flags; the task's tuned values.
    defaults = {}

    def add_arguments(self, parser):
        """Task-specific command-line flags (defaults None: the task decides)."""

    def build_inputs(self, config):
        """Returns `Data` for `config` (a dict of hyperparameters and flags)."""
        raise NotImplementedError

    def build_model(self, config, data=None):
        """Returns an uncompiled `keras.Model` taking raw inputs."""
        raise NotImplementedError

    def build_losses(self, config):
        raise NotImplementedError

    def build_metrics(self, config):
        return []

    def monitor(self, config):
        """`(quantity, mode)` that early stopping and the best checkpoint follow."""
        return "val_loss", "min"

    def calibrate(self, model, data, config):
        """Fits what is set after training, on the validation split (default: nothing)."""

    def evaluate(self, model, data, config):
        """Test metrics as a flat dict with plain keys (`test_accuracy`, ...)."""
        raise NotImplementedError

    def serving_signatures(self, model, data, config):
        """`{name: (function, input_signature)}` for the SavedModel."""
        raise NotImplementedError

    def serving_examples(self, data, config):
        """`{input_name: numpy array}`: a few rows of raw test inputs for `serving_default`.

        The export writes them as TF Serving warm-up requests; tests and the load
        benchmark send them to the server.
        """
        raise NotImplementedError


def list_tasks(pattern="*"):
    """Names of the tasks in the `tasks` package matching a glob pattern."""
    import tasks

    names = [m.name for m in pkgutil.iter_modules(tasks.__path__) if not m.name.startswith("_")]
    return sorted(fnmatch.filter(names, pattern))


def get_task(name):
    if name not in list_tasks():
        raise ValueError(f"Unknown task {name!r}; choose one of {list_tasks()}.")
    return importlib.import_module(f"tasks.{name}").TASK


def task_config(task, **overrides):
    """The task's defaults with the given (non-None) overrides applied."""
    unknown = set(overrides) - set(task.defaults)
    if unknown:
        raise ValueError(
            f"Unknown hyperparameter(s) {sorted(unknown)} for task {task.name!r}; "
            f"known: {sorted(task.defaults)}."
        )
    return {**task.defaults, **{k: v for k, v in overrides.items() if v is not None}}


def create_model(name, cell="gru", data=None, **overrides):
    """`create_model("sentiment", cell="lstm")`: the task's model, uncompiled.

    Without `data`, preprocessing that is fitted to data (e.g. a vocabulary) is
    left unfitted; `train.py` fits it on the training split.
    """
    task = get_task(name)
    return task.build_model(task_config(task, cell=cell, **overrides), data)
