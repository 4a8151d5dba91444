"""The interface every task implements, and the task registry.

A task turns raw data into `tf.data` pipelines, builds its model (preprocessing
inside, so the export takes raw inputs), names its loss and metrics, computes its
test metrics, and says what its SavedModel's signatures are. The training loop
(`zoo.training`) and export (`zoo.export`) are shared and know no task.

Registering: a task class decorated with `@register_task` is added to `TASKS` when
its module is imported. The library finds task modules through the `zoo.tasks`
entry-point group (`setup.cfg`: `sentiment = tasks.sentiment:SentimentTask`), so it
never imports a task package by name, and another installed package adds its own
task the same way:

    [options.entry_points]
    zoo.tasks =
        my_task = my_package.my_task:MyTask

A task's package may also give its hyperparameter table as `HYPERPARAMETERS`, importable without
TensorFlow (the zoo's tasks keep it in `tasks/<family>/settings.py` and import their task class only
when it is asked for): `task_names()` and `hyperparameter_table(name)` then read names and flags
without importing any task, so train.py refuses a bad flag before TensorFlow loads.

Config: `resolve_config(task, **overrides)` gives a new dict of the task's
hyperparameter table (`zoo.hyperparameters`) with the overrides checked and applied;
`task.resolve(config, data)` returns a new dict whose data-dependent entries (left
None in the table) are filled in: as `build_inputs` decided them when it read the data
(`Data.settings`), so each is worked out once. Nothing rewrites a config in place.
"""

import dataclasses
import fnmatch
import importlib
import importlib.metadata

from zoo import hyperparameters

ENTRY_POINT_GROUP = "zoo.tasks"
TASKS = {}  # task name -> Task instance, filled by @register_task


@dataclasses.dataclass(frozen=True)
class Metric:
    """A task's headline test metric: what the harness compares cells on and a card leads with."""

    name: str  # its key in the task's test metrics (metrics.json), e.g. "test_accuracy"
    higher_is_better: bool
    target: tuple = None  # (history key, threshold): "epochs to target" is the first epoch reaching it


@dataclasses.dataclass
class Data:
    """A task's data: batched `(inputs, targets)` datasets and what they are."""

    train: object
    validation: object
    test: object
    description: str  # one line for the user: which data, how many examples
    info: dict = dataclasses.field(default_factory=dict)  # goes into the export metadata
    # The config entries the data decided when it was read (its source, a horizon, ...): decided
    # once, in `build_inputs`, and filled into the config by `Task.resolve`.
    settings: dict = dataclasses.field(default_factory=dict)
    reference: object = None  # what `evaluate` needs beyond the test batches; not exported


class Task:
    """Base class; subclasses set `name`, `hyperparameters` and `metric` and override the `build_*` methods.

    What generic code (training, the harness, loading, export, the tests) needs to know of a
    task it asks the task, never its name: the class attributes below and the methods after.
    """

    name = None
    hyperparameters = ()  # the task's table of `zoo.hyperparameters.Hyperparameter` rows
    metric = None  # the headline `Metric`
    tiny = {}  # overrides of the defaults for a tiny run on offline data (seconds): tests, smoke runs
    comparison = {}  # overrides of the defaults when `evaluate.py --task` compares cells on the user's data
    baseline_methods = ()  # the methods `baseline` knows, in the order the harness reports them
    # Fine-tuning across tasks (`--init-from` a model of another task): the tasks whose exports can give
    # this task's encoder, and, on the giving side, which of its layers form the encoder (name prefixes)
    # and which of its hyperparameters fix it (the taking model keeps their values).
    encoder_from = ()
    encoder_layers = ()
    encoder_hyperparameters = ()

    @property
    def defaults(self):
        return hyperparameters.defaults(self.hyperparameters)

    def resolve(self, config, data=None):
        """A new config with the entries the table leaves to the data filled in.

        `data` is what `build_inputs` returned, whose `settings` the data decided, or None when
        a model is built without data (`zoo.create_model`, a rebuilt export): a task fills those
        entries from the config alone then. The base class fills in `data.settings`.
        """
        return {**config, **(data.settings if data else {})}

    def build_inputs(self, config):
        """Returns `Data` for `config` (a dict of hyperparameters)."""
        raise NotImplementedError

    def build_model(self, config, data=None, parent=None):
        """Returns an uncompiled `keras.Model` taking raw inputs; `config` is resolved.

        `parent`: a `zoo.loading.SavedModel` of this task that training will start from
        (`zoo.training.fit(init_from=...)` copies its weights after this): a task whose
        preprocessing is fitted to data takes the parent's (e.g. its vocabulary) instead.
        """
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

    def ensemble(self, members):
        """One Keras model combining `members`, models of this task each built or loaded in its
        `zoo.loading.member_scope` (so their variables keep distinct names in an export); a task
        without ensembles refuses."""
        raise ValueError(f"task {self.name!r} has no ensemble of models.")

    def evaluate(self, model, data, config):
        """Test metrics as a flat dict with plain keys (`test_accuracy`, ...)."""
        raise NotImplementedError

    def baseline(self, method, config, data):
        """`(value of the headline metric, parameters, {other measures})` of one of `baseline_methods`
        fitted on `data`'s training split and scored on its test split (evaluate.py's baseline rows)."""
        raise ValueError(f"task {self.name!r} has no baseline {method!r}; it has {list(self.baseline_methods)}.")

    def figure(self, model, data, config):
        """A matplotlib Figure of the trained model on test data (`zoo.plots`), or None."""
        return None

    def serving_signatures(self, model, data, config):
        """`{name: (function, input_signature)}` for the SavedModel."""
        raise NotImplementedError

    def serving_examples(self, data, config):
        """`{input_name: numpy array}`: a few rows of raw test inputs for `serving_default`.

        The export writes them as TF Serving warm-up requests; tests and the load
        benchmark send them to the server.
        """
        raise NotImplementedError

    def card_facts(self, recipe, config, data, metrics, model, version_dir, data_path):
        """The facts of a shipped model's card (`zoo.cards.render`: summary, data, licence, split,
        architecture, baselines, what not to use it for, picture, examples), for `recipe` (its name,
        cell, seeds and flags, `benchmarks/build_zoo.py`), built from the data at `data_path` and
        exported to `version_dir`. A task whose models the zoo ships says them; others have none."""
        raise NotImplementedError(f"task {self.name!r} writes no card for a shipped model.")

    # -- on-device files (`zoo.edge`: LiteRT, ONNX)

    def edge_signatures(self, model, config):
        """`{name: (function, input_signature)}` for the LiteRT/ONNX files, `model` rebuilt with
        unrolled recurrent layers: a batch of one, and whatever fixes the number of steps.
        Default: the serving signatures with the batch fixed at one."""
        import tensorflow as tf

        return {
            name: (function, [tf.TensorSpec([1, *spec.shape[1:]], spec.dtype, name=spec.name) for spec in specs])
            for name, (function, specs) in self.serving_signatures(model, None, config).items()
        }

    def edge_examples(self, model, config, warmup):
        """`{signature: [inputs]}` each converted file is checked on, from `warmup` (the version's
        warm-up inputs of serving_default). Default: those rows one at a time."""
        rows = len(next(iter(warmup.values()))) if warmup else 0
        return {"serving_default": [{name: values[row : row + 1] for name, values in warmup.items()}
                                    for row in range(rows)]}

    def edge_assets(self, model, config):
        """`{file name: text}` the edge files need beside them (e.g. a vocabulary). Default: none."""
        return {}

    def edge_unavailable(self, config):
        """Why a model of `config` has no on-device form, or None (checked before training)."""
        return None

    def edge_about(self, config):
        """What the edge files take and return, in a sentence or two (edge.json, the card)."""
        return ""


def register_task(task_class):
    """Class decorator: registers an instance of `task_class` under its `name`."""
    task = task_class()
    if not task.name:
        raise ValueError(f"{task_class.__name__}: a task needs a `name`.")
    TASKS[task.name] = task
    return task_class


def _load_entry_points():
    for entry_point in _entry_points().values():
        if entry_point.name not in TASKS:
            loaded = entry_point.load()  # importing the module registers the task
            if entry_point.name not in TASKS and isinstance(loaded, type):
                register_task(loaded)


def _entry_points():
    return {entry_point.name: entry_point for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def task_names():
    """The names of the registered tasks and of those installed packages declare, none imported."""
    return sorted({*TASKS, *_entry_points()})


def hyperparameter_table(name):
    """Task `name`'s hyperparameter table: its package's `HYPERPARAMETERS` when it gives one (read
    without importing the task, nor TensorFlow), else the task's own (`get_task`)."""
    entry_point = None if name in TASKS else _entry_points().get(name)
    if entry_point is not None:
        table = getattr(importlib.import_module(entry_point.module), "HYPERPARAMETERS", None)
        if table is not None:
            return table
    return get_task(name).hyperparameters


def list_tasks(pattern="*"):
    """Names of the registered tasks (and those installed packages declare) matching a glob."""
    _load_entry_points()
    return sorted(fnmatch.filter(TASKS, pattern))


def get_task(name):
    if name not in TASKS:
        _load_entry_points()
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; choose one of {list_tasks()}.")
    return TASKS[name]


def resolve_config(task, **overrides):
    """The task's defaults with the given (non-None) overrides checked and applied: a new dict."""
    return hyperparameters.resolve(task.hyperparameters, f"task {task.name!r}", **overrides)


def stored_config(task, stored):
    """The entries of a stored config (a run's config.json, an export's metadata) that `task`'s table
    still has: what `resolve_config` takes to bring it to today's table (the defaults of hyperparameters
    added since, each value checked), so no task needs `config.get(name, default)`."""
    names = {row.name for row in task.hyperparameters}
    return {name: value for name, value in stored.items() if name in names}


def create_model(name, cell="gru", data=None, **overrides):
    """`create_model("sentiment", cell="lstm")`: the task's model, uncompiled.

    Without `data`, preprocessing that is fitted to data (e.g. a vocabulary) is
    left unfitted; `train.py` fits it on the training split. The config goes
    through the same `task.resolve` as in training.
    """
    task = get_task(name)
    config = task.resolve(resolve_config(task, cell=cell, **overrides), data)
    return task.build_model(config, data)
