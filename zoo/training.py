"""The one training loop: `fit` trains, tests once and writes the run; `export` writes its SavedModel.

    run = fit(task, config)                      # Run(model, data, history, metrics, ...)
    export(task, run, "saved_models")            # saved_models/<task>-<cell>/<version>/
    finish(run)                                  # runs/<task>-<cell>-<time>/

A run lives in `runs/<task>-<cell>-<time>.partial/` while it trains (TensorBoard
logs, checkpoints, the backup `--resume` continues from) and is renamed by
`finish` once its metrics are written and its export (if any) is in place, so a
finished run folder is always complete. `config.json` holds the resolved
hyperparameters; `run.json` the run's options (where it wrote, verbosity, resume).

A run can start from an exported model (`fit(init_from=...)`, train.py's `--init-from`: `load_parent`,
`fine_tuning_hyperparameters`, `zoo.loading.build_from_parent`, and a card naming the parent): a model of
the same task gives all its weights; one of a task in `Task.encoder_from` (a language model, for the text
classifiers) gives its encoder (`Task.encoder_layers`, fixed by its `Task.encoder_hyperparameters`). Or a
run continues an unfinished one with its own settings (`resumed_hyperparameters`).
"""

import dataclasses
import json
import os
import pathlib
import shlex
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from zoo import cards, catalog, distribute, loading, plots
from zoo.export import export_saved_model
from zoo.optimizers import LayerwiseAdam, fine_tuning_rates
from zoo.task import get_task, stored_config

PARTIAL = ".partial"
FIGURE_FILE = "figure.png"  # the task's picture of the trained model on test data


@dataclasses.dataclass
class Run:
    """What `fit` built and measured."""

    task: object
    config: dict  # resolved hyperparameters, as in config.json
    model: object  # the trained keras.Model (best epoch's weights restored)
    data: object  # the task's `Data`
    history: dict  # keras History.history: per-epoch losses and metrics
    metrics: dict  # test metrics plus parameters, train_seconds, epochs_trained
    run_dir: pathlib.Path  # the run folder (still `.partial` until `finish`)
    parent: dict = None  # {"name", "version"} of the model it started from (`init_from`)


def new_run_dir(output_dir, task_name, cell):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return pathlib.Path(output_dir) / f"{task_name}-{cell}-{stamp}{PARTIAL}"


def latest_partial_run(output_dir, task_name, cell):
    runs = sorted(pathlib.Path(output_dir).glob(f"{task_name}-{cell}-*{PARTIAL}"))
    if not runs:
        raise FileNotFoundError(
            f"--resume: no unfinished run of {task_name}-{cell} in {output_dir}/."
        )
    return runs[-1]


def build_optimizer(config, steps_per_epoch, pretrained_layers=()):
    """Adam with the peak `learning_rate` decayed along a cosine over the run. With `pretrained_layers`
    (bottom first: a run fine-tuning another task's encoder) ULMFiT's recipe, set by the task's
    `zoo.hyperparameters.FINE_TUNING` rows: a warm-up from 0, discriminative rates and gradual
    unfreezing (`zoo.optimizers.LayerwiseAdam`)."""
    total_steps = max(1, steps_per_epoch * config["epochs"])
    if not pretrained_layers:
        schedule = keras.optimizers.schedules.CosineDecay(config["learning_rate"], decay_steps=total_steps, alpha=0.05)
        return keras.optimizers.Adam(schedule, clipnorm=config["clipnorm"])
    warmup_steps = round(config["warmup_fraction"] * total_steps)
    unfreeze_steps = round(config["unfreeze_fraction"] * total_steps)
    if unfreeze_steps * len(pretrained_layers) >= total_steps:
        raise ValueError(
            f"--unfreeze-fraction {config['unfreeze_fraction']:g}: with {len(pretrained_layers)} pretrained layers "
            f"({', '.join(layer.name for layer in pretrained_layers)}) the lowest would join after the last of "
            f"the {total_steps} steps; give less than {1 / len(pretrained_layers):.3g} (or more --epochs)."
        )
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, total_steps - warmup_steps), alpha=0.05,
        warmup_target=config["learning_rate"], warmup_steps=warmup_steps,
    )
    rates = fine_tuning_rates(pretrained_layers, config["encoder_rate_factor"], unfreeze_steps)
    return LayerwiseAdam(schedule, rate_scales=rates, clipnorm=config["clipnorm"])


def check_time_budget(seconds):
    """ValueError unless `seconds` (of a `--budget-minutes` budget) is positive."""
    if not seconds > 0:
        raise ValueError(f"--budget-minutes {seconds / 60:g}: give a positive number of minutes.")


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of wall time have passed (checked after every batch; the
    epoch under way is then validated and recorded as a shorter one). A budget that runs
    out inside the first epoch is refused: equal-time comparisons need one whole epoch."""

    def __init__(self, seconds):
        super().__init__()
        check_time_budget(seconds)
        self.seconds = seconds

    def on_train_begin(self, logs=None):
        self.start, self.batches = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches = batch + 1
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        steps = self.params.get("steps")
        if epoch == 0 and self.model.stop_training and steps and self.batches < steps:
            raise ValueError(
                f"--budget-minutes {self.seconds / 60:g} ran out in the first epoch ({self.batches} of {steps} "
                f"batches in {time.perf_counter() - self.start:.0f} s): give at least one epoch's time."
            )


def fit(task, config, output_dir="runs", resume=None, verbose=1, data=None, init_from=None, strategy="default",
        mixed_precision=None, time_budget=None):
    """Trains `task` with `config` (from `zoo.task.resolve_config`), tests once; returns a `Run`.

    The run folder gets config.json, run.json, TensorBoard logs, the best
    checkpoint, history.json, metrics.json, the task's figure.png and model.keras. `resume`: an
    unfinished run folder to continue. `data`: the task's `Data` when the caller
    built it (e.g. a cut training split); by default `task.build_inputs(config)`.
    `init_from`: a `zoo.loading.SavedModel` of the same task and architecture whose
    weights (and fitted preprocessing, e.g. vocabularies) training starts from.
    `strategy`: a `zoo.distribute.STRATEGIES` name or a `tf.distribute.Strategy`, whose
    scope the model is built and compiled in; `mixed_precision`: a Keras mixed policy
    (`zoo.distribute.MIXED_PRECISION`) or None. Both are run options (run.json), not
    hyperparameters: `config["batch_size"]` is the global batch either way. `time_budget`:
    seconds of training after which it stops (`TimeBudget`; `config["epochs"]` stays the cap).
    """
    keras.utils.set_random_seed(config["seed"])
    strategy = distribute.make_strategy(strategy) if isinstance(strategy, str) else strategy
    check_global_batch(config, strategy.num_replicas_in_sync)
    note = distribute.check_precision(mixed_precision)
    if note:
        print(note, flush=True)
    if data is None:
        data = task.build_inputs(config)
    config = task.resolve(config, data)
    print(data.description, flush=True)
    model = build_compiled_model(task, config, data, init_from, strategy, mixed_precision)
    parameters = int(model.count_params())
    print_model_line(task, config, parameters, strategy.num_replicas_in_sync, mixed_precision)
    run_dir = pathlib.Path(resume) if resume else new_run_dir(output_dir, task.name, config["cell"])
    write_run_settings(run_dir, task, config, strategy, mixed_precision, output_dir=str(output_dir),
                       resume=str(resume) if resume else None, verbose=verbose)
    start = time.perf_counter()
    model, history = train(task, config, data, model, run_dir, strategy, mixed_precision, verbose, time_budget)
    train_seconds = time.perf_counter() - start
    metrics = test(task, config, data, model)
    metrics.update(parameters=parameters, train_seconds=round(train_seconds, 1),
                   epochs_trained=history.epoch[-1] + 1 if history.epoch else 0)  # counts a resumed run's first part
    record(task, config, data, model, history, metrics, run_dir)
    parent = {"name": init_from.name, "version": init_from.version} if init_from else None
    return Run(task, config, model, data, history.history, metrics, run_dir, parent)


def check_global_batch(config, replicas):
    """ValueError unless the global batch splits evenly among the replicas."""
    if config["batch_size"] % replicas:
        raise ValueError(
            f"--batch-size {config['batch_size']} is the global batch and must split evenly among the "
            f"{replicas} replicas: try {config['batch_size'] // replicas * replicas or replicas}."
        )


def build_compiled_model(task, config, data, init_from, strategy, mixed_precision):
    """The task's model (from `init_from`'s weights when given), compiled with the task's losses and
    metrics and `build_optimizer`'s Adam, in the strategy's scope and the precision policy."""
    with distribute.precision(mixed_precision), strategy.scope():
        if init_from is None:
            model = task.build_model(config, data)
        else:
            model = loading.build_from_parent(task, config, data, init_from)
            print(f"initialised from {init_from.path}", flush=True)
        steps_per_epoch = int(data.train.cardinality())
        model.compile(
            optimizer=build_optimizer(config, steps_per_epoch, pretrained_encoder(task, model, init_from)),
            loss=task.build_losses(config),
            metrics=task.build_metrics(config),
        )
    return model


def pretrained_encoder(task, model, parent):
    """The layers of `model` that took the encoder of `parent`, a model of another task, bottom first
    (`Task.encoder_layers`); none when there is no parent or it is of the same task."""
    parent_task = get_task(parent.metadata.get("task")) if parent is not None else task
    if parent_task is task:
        return []
    return [layer for layer in model.layers
            if layer.name.startswith(parent_task.encoder_layers) and layer.trainable_weights]


def print_model_line(task, config, parameters, replicas, mixed_precision):
    print(f"{task.name}-{config['cell']}: {parameters:,} parameters"
          + (f"; {replicas} replicas, {config['batch_size'] // replicas} rows each per step" if replicas > 1 else "")
          + (f"; {mixed_precision}" if mixed_precision else ""), flush=True)


def write_run_settings(run_dir, task, config, strategy, mixed_precision, **options):
    """config.json (the resolved hyperparameters) and run.json (the run's options) in a new or resumed run folder."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    run_options = {"task": task.name, "output_dir": options["output_dir"], "resume": options["resume"],
                   "verbose": options["verbose"], "strategy": type(strategy).__name__,
                   "replicas": strategy.num_replicas_in_sync, "mixed_precision": mixed_precision}
    (run_dir / "run.json").write_text(json.dumps(run_options, indent=2))


def training_callbacks(task, config, run_dir, multi_worker, time_budget):
    """Backup for --resume, TensorBoard, the best checkpoint, early stopping, NaN stop, the time budget."""
    monitor, mode = task.monitor(config)
    return [
        # Several machines: only the chief restores; the others take its state (fit_in_loop).
        *([keras.callbacks.BackupAndRestore(str(run_dir / "backup"))] if not multi_worker or distribute.is_chief()
          else []),
        keras.callbacks.TensorBoard(str(run_dir / "logs")),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.keras"), monitor=monitor, mode=mode, save_best_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=config["patience"], restore_best_weights=True
        ),
        keras.callbacks.TerminateOnNaN(),
        *([TimeBudget(time_budget)] if time_budget is not None else []),
    ]


def train(task, config, data, model, run_dir, strategy, mixed_precision, verbose, time_budget):
    """(trained model, Keras History): Keras's fit, or the custom loop on several machines; a
    diverged run is a FloatingPointError (the run folder kept, nothing exported)."""
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    callbacks = training_callbacks(task, config, run_dir, multi_worker, time_budget)
    if multi_worker:  # Keras's fit fails there (keras-team/keras#20585): the custom loop
        history = distribute.fit_in_loop(model, strategy, data.train, data.validation, config["epochs"],
                                         callbacks, verbose)
        model = local_copy(task, config, data, model, mixed_precision)
    else:
        history = model.fit(
            data.train,
            validation_data=data.validation,
            epochs=config["epochs"],
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the task's dataset shuffles itself
        )
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise FloatingPointError(
            f"training diverged (loss {losses[-1]}); the run is kept in {run_dir} "
            "and nothing was exported. Try a lower --learning-rate."
        )
    return model, history


def test(task, config, data, model):
    """The task's test metrics, after what it fits on the validation split (`Task.calibrate`)."""
    task.calibrate(model, data, config)
    return task.evaluate(model, data, config)


def record(task, config, data, model, history, metrics, run_dir):
    """Prints the metrics and writes metrics.json, the task's figure, history.json and model.keras."""
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    figure = task.figure(model, data, config)
    if figure is not None:
        plots.save(figure, run_dir / FIGURE_FILE)
    (run_dir / "history.json").write_text(json.dumps(history.history, indent=2, default=float))
    model.save(run_dir / "model.keras")


def trained_run(task, config, run_dir):
    """The `Run` of an unfinished run folder whose training and test are done (its model.keras, the
    last file `fit` writes, is there) but whose export is not (it failed: a folder not writable, a
    full disk); None for a run still to train. `--resume` exports such a run instead of training it
    again: the data is read again for the export's signatures and warm-up examples."""
    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "model.keras").is_file():
        return None
    print(f"{run_dir}: trained and tested already (model.keras, metrics.json); exporting it", flush=True)
    data = task.build_inputs(config)
    config = task.resolve(config, data)
    model = loading.load(run_dir / "model.keras")
    history = json.loads((run_dir / "history.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return Run(task, config, model, data, history, metrics, run_dir)


def local_copy(task, config, data, model, mixed_precision):
    """`model` rebuilt on this machine alone with the trained weights: what is tested, saved and
    exported after a multi-worker run, whose own model would wait for the other workers."""
    with distribute.precision(mixed_precision):
        local = task.build_model(config, data)
    local.set_weights(model.get_weights())
    return local


def export(task, run, export_dir="saved_models", model_name=None):
    """Exports the next version of `<export_dir>/<model_name>` (default `<task>-<cell>`); returns its path."""
    model_name = model_name or f"{task.name}-{run.config['cell']}"
    path = export_saved_model(
        run.model,
        task.serving_signatures(run.model, run.data, run.config),
        pathlib.Path(export_dir) / model_name,
        metadata={"task": task.name, "config": run.config, "data": run.data.info, "test_metrics": run.metrics,
                  **({"parent": run.parent} if run.parent else {})},
        serving_examples=task.serving_examples(run.data, run.config),
    )
    print(f"exported {path}")
    return path


def finish(run):
    """Drops the run folder's `.partial` suffix; returns (and records in `run`) the final folder."""
    final_dir = run.run_dir.with_name(run.run_dir.name.removesuffix(PARTIAL))
    os.rename(run.run_dir, final_dir)
    run.run_dir = final_dir
    print(f"run folder {final_dir}")
    return final_dir


# ------------------------------------------------ fine-tuning and resuming


def load_parent(name, task):
    """The model --init-from names, checked to be one of `task`'s or of a task that gives it an encoder."""
    parent = loading.load(name)
    if not isinstance(parent, loading.SavedModel):
        raise ValueError(f"--init-from {name}: give an exported model (a name or folder), not a .keras file.")
    parent_task = parent.metadata.get("task")
    givers = (task.name, *task.encoder_from)
    if parent_task not in givers:
        known = [m["name"] for m in catalog.list_models() if m["task"] in givers]
        raise ValueError(
            f"--init-from {name}: it is a {parent_task} model, which has no encoder for --task {task.name}; "
            f"{task.name} starts from a model of {' or '.join(givers)} (known: {known})."
        )
    return parent


def fine_tuning_hyperparameters(parent, task, flags):
    """The hyperparameters of a run that starts from `parent`: the flags given (not None) over the
    parent's. A parent of the same task gives all of its that the task's table has; one of another task
    gives its encoder's (`Task.encoder_hyperparameters`), which a flag may not change: the first flag
    that does is named."""
    parent_task = get_task(parent.metadata.get("task"))
    stored = stored_config(task, parent.metadata.get("config", {}))
    given = {name: value for name, value in flags.items() if value is not None}
    if parent_task is task:
        return {**stored, **given}
    fixed = {name: stored[name] for name in parent_task.encoder_hyperparameters if name in stored}
    for name, value in given.items():
        if name in fixed and value != fixed[name]:
            raise ValueError(
                f"--init-from {parent.name}: --{name.replace('_', '-')} {value!r}, but its encoder has "
                f"{fixed[name]!r}; a model that takes a {parent_task.name}'s encoder keeps its "
                f"{', '.join(fixed)} (leave those flags out)."
            )
    return {**given, **fixed}


def write_fine_tuned_card(run, version_dir, command):
    """The card of a fine-tuned model, naming its parent, in the run and the model folder."""
    parent = f"`{run.parent['name']}` version {run.parent['version']}"
    facts = {
        "summary": f"{run.task.name} model fine-tuned from {parent} on {run.data.info.get('source')} data.",
        "task_line": run.task.name, "data": [("data", run.data.description)],
        "architecture": f"{run.config['cell']}, {run.config['units']} units, started from its parent's weights (all, "
                        "or its encoder's when the parent is of another task)",
        "command": shlex.join(command), "build_seconds": run.metrics["train_seconds"], "parent": parent,
        "baseline_header": ("model", "note"), "baselines": [(parent, "see its card")],
        "not_for": ["Data unlike the data above: measured only on its test split."],
        "picture": FIGURE_FILE, "picture_caption": "the run's picture", "examples": {},
    }
    card = cards.render(loading.load(version_dir), facts)
    for folder in (run.run_dir, version_dir.parent):
        (folder / cards.CARD_FILE).write_text(card)
    shutil.copy(run.run_dir / FIGURE_FILE, version_dir.parent / FIGURE_FILE)


def resumed_hyperparameters(run_dir, task, flags):
    """The unfinished run's own hyperparameters (its config.json); a flag that differs, a
    finished run or a folder that is not a run is refused, so a finished run never changes."""
    if not run_dir.is_dir():
        raise FileNotFoundError(f"--resume {run_dir}: no such run folder.")
    if not run_dir.name.endswith(PARTIAL):
        raise ValueError(
            f"--resume {run_dir}: this run is finished (no {PARTIAL} suffix) and is never changed; "
            "start a new run instead."
        )
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"--resume {run_dir}: no config.json, so not a train.py run folder.")
    saved = json.loads((run_dir / "config.json").read_text())
    run_task = json.loads((run_dir / "run.json").read_text())["task"] if (run_dir / "run.json").is_file() else None
    if run_task not in (None, task.name):
        raise ValueError(f"--resume {run_dir}: a {run_task} run; add --task {run_task}.")
    differing = [
        f"--{name.replace('_', '-')} {value!r} (the run has {saved[name]!r})"
        for name, value in flags.items()
        if value is not None and name in saved and saved[name] != value
    ]
    if differing:
        raise ValueError(
            f"--resume {run_dir}: {', '.join(differing)}; a resumed run keeps its own settings "
            "(leave those flags out) or start a new run."
        )
    return stored_config(task, saved)
