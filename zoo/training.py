"""The one training loop: fit with validation, test once, write the run, export.

A run lives in `runs/<task>-<cell>-<time>.partial/` while it trains (TensorBoard
logs, checkpoints, the backup `--resume` continues from) and is renamed to
`runs/<task>-<cell>-<time>/` once its metrics are written and its export is in
place, so a finished run folder is always complete.
"""

import json
import os
import pathlib
import time

import keras
import numpy as np

from zoo.export import export_saved_model

PARTIAL = ".partial"


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


def build_optimizer(config, steps_per_epoch):
    schedule = keras.optimizers.schedules.CosineDecay(
        config["learning_rate"],
        decay_steps=max(1, steps_per_epoch * config["epochs"]),
        alpha=0.05,
    )
    return keras.optimizers.Adam(schedule, clipnorm=config.get("clipnorm", 1.0))


def train_and_export(task, config, output_dir="runs", export_dir="saved_models", resume=None):
    """Trains `task` with `config`; returns (run folder, test metrics, export path).

    `export_dir=None` skips the export (the export path returned is then None).
    """
    keras.utils.set_random_seed(config["seed"])
    data = task.build_inputs(config)
    print(data.description, flush=True)
    model = task.build_model(config, data)
    steps_per_epoch = int(data.train.cardinality())
    model.compile(
        optimizer=build_optimizer(config, steps_per_epoch),
        loss=task.build_losses(config),
        metrics=task.build_metrics(config),
    )
    parameters = int(model.count_params())
    print(f"{task.name}-{config['cell']}: {parameters:,} parameters", flush=True)

    run_dir = pathlib.Path(resume) if resume else new_run_dir(output_dir, task.name, config["cell"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    monitor, mode = task.monitor(config)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.TensorBoard(str(run_dir / "logs")),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.keras"), monitor=monitor, mode=mode, save_best_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=config.get("patience", 2), restore_best_weights=True
        ),
        keras.callbacks.TerminateOnNaN(),
    ]
    start = time.perf_counter()
    history = model.fit(
        data.train,
        validation_data=data.validation,
        epochs=config["epochs"],
        callbacks=callbacks,
        verbose=config.get("verbose", 1),
        shuffle=False,  # the task's dataset shuffles itself
    )
    train_seconds = time.perf_counter() - start
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise FloatingPointError(
            f"training diverged (loss {losses[-1]}); the run is kept in {run_dir} "
            "and nothing was exported. Try a lower --learning-rate."
        )

    task.calibrate(model, data, config)
    metrics = task.evaluate(model, data, config)
    metrics.update(
        parameters=parameters,
        train_seconds=round(train_seconds, 1),
        epochs_trained=history.epoch[-1] + 1 if history.epoch else 0,  # counts a resumed run's first part
    )
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (run_dir / "history.json").write_text(json.dumps(history.history, indent=2, default=float))
    model.save(run_dir / "model.keras")

    export_path = None
    if export_dir is not None:  # None: no export (e.g. the evaluation harness's runs)
        export_path = export_saved_model(
            model,
            task.serving_signatures(model, data, config),
            pathlib.Path(export_dir) / f"{task.name}-{config['cell']}",
            metadata={"task": task.name, "config": config, "data": data.info, "test_metrics": metrics},
            serving_examples=task.serving_examples(data, config),
        )
        print(f"exported {export_path}")

    final_dir = run_dir.with_name(run_dir.name.removesuffix(PARTIAL))
    os.rename(run_dir, final_dir)
    print(f"run folder {final_dir}")
    return final_dir, metrics, export_path
