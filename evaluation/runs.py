"""Runs a grid into `results/<name>/results.csv`: one row per run, resumable, reusable by another grid.

Every task run goes through `zoo.training.fit` (the loop `train.py` uses) with the
grid's overrides of the task's defaults and no export. Besides the cells at equal
units, each grid has a parameter-matched GRU (`gru_matched`: more units, so its
parameter count equals the LSTM's, as Chung et al. 2014 compared them), the tasks'
baselines (`Task.baseline`: TF-IDF + logistic regression; sNaive, Naive2), the long-range probes of
`evaluation.probes`, and latency rows (whole sequence vs one streaming step).
"""

import contextlib
import csv
import functools
import json
import pathlib
import time

import numpy as np

from evaluation.grids import DATA_FOLDERS, find_spec
from zoo.builders import ENCODERS

COLUMNS = [
    "run", "kind", "task", "data", "cell", "seed", "param_matched", "units", "length",
    "parameters", "metric", "value", "higher_is_better", "solved", "train_seconds",
    "epochs_trained", "seconds_per_epoch", "epochs_to_target", "latency_ms", "step_latency_ms",
    "loss_curve", "val_loss_curve", "extra",
]

# ---------------------------------------------------------------------- tasks


def run_config(spec, cell, seed, data_dir, units=None, tuned=None):
    """(task, config): the spec's overrides of the task's defaults for one cell and seed
    (then `tuned`, hyperparameters a tuning trial chose)."""
    from zoo.task import get_task, resolve_config

    task = get_task(spec.task)
    overrides = {k: v for k, v in {**spec.overrides, **(tuned or {})}.items() if k in task.defaults}
    for name, value in overrides.items():  # a folder under --data-dir (e.g. the Speech Commands clips)
        if isinstance(value, str) and "{data_dir}" in value:
            if not data_dir:
                raise ValueError(f"{spec.name}: --data-dir is needed (--{name.replace('_', '-')} {value}).")
            overrides[name] = value.format(data_dir=data_dir)
    source = overrides.get("data")
    if source in DATA_FOLDERS and not overrides.get("data_dir"):  # a named grid: the shared data folder
        if not data_dir:
            raise ValueError(f"{spec.name}: --data-dir is needed (the folder with {DATA_FOLDERS[source]}/).")
        overrides["data_dir"] = str(pathlib.Path(data_dir) / DATA_FOLDERS[source])
    if units:
        overrides["units"] = units
    return task, resolve_config(task, cell=cell, seed=seed, **overrides)


def cut_training_split(task, config, size):
    """The task's data with the training split cut to `size` examples (a fixed subset per seed)."""
    import tensorflow as tf

    data = task.build_inputs(config)
    texts, labels = zip(*data.train.unbatch().take(size).as_numpy_iterator())
    data.train = (
        tf.data.Dataset.from_tensor_slices((list(texts), np.array(labels)))
        .shuffle(len(texts), seed=config["seed"], reshuffle_each_iteration=True)
        .batch(config["batch_size"])
    )
    data.description += f" (training split cut to {len(texts)})"
    return data


@functools.lru_cache(maxsize=None)
def matched_units(spec_name, data_dir, cell="gru"):
    """Units of `cell` whose model has the LSTM model's parameter count (nearest from above or
    below): the GRU's `gru_matched`, and the units every run of a non-recurrent encoder
    (`zoo.builders.ENCODERS`: transformer, cnn) gets, so they compare at equal size."""
    import keras

    spec = find_spec(spec_name)

    def count(cell, units):
        task, config = run_config(spec, cell, 0, data_dir, units)
        count = task.build_model(task.resolve(config), None).count_params()
        keras.backend.clear_session()
        return count

    base = run_config(spec, "lstm", 0, data_dir)[1]["units"]
    target = count("lstm", base)
    low, high = 4, 2 * base
    while high - low > 1:  # the count grows with units
        middle = (low + high) // 2
        low, high = (middle, high) if count(cell, middle) <= target else (low, middle)
    return min((low, high), key=lambda units: abs(count(cell, units) - target))


def inference_latency_ms(run, repeats=20):
    """Median ms of the trained model on one test example (batch 1)."""
    import tensorflow as tf

    from evaluation.latency import forward_latency_ms

    examples = run.task.serving_examples(run.data, run.config)
    inputs = {name: tf.constant(values[:1]) for name, values in examples.items()}
    if len(inputs) == 1:
        inputs = next(iter(inputs.values()))
    return forward_latency_ms(run.model, inputs, repeats)


def epochs_to_target(history, target):
    key, threshold = target
    values = history.get(key, [])
    higher = "accuracy" in key
    for epoch, value in enumerate(values, start=1):
        if (value >= threshold) if higher else (value <= threshold):
            return epoch
    return ""


def curve(history, key):
    return json.dumps([round(v, 5) for v in history.get(key, [])])


def run_task(spec, cell, seed, data_dir, run_dir, units=None, label=None, tuned=None):
    """Trains one (task, cell, seed) through zoo.training; returns its CSV row (`extra` holds
    the best validation value of the task's monitor, `best_validation`)."""
    import keras

    from zoo.training import finish, fit

    task, config = run_config(spec, cell, seed, data_dir, units, tuned)
    data, size = None, spec.overrides.get("train_subset")  # None: `fit` builds the task's data
    if size:
        keras.utils.set_random_seed(config["seed"])  # as `fit` does before the data: the cut's order depends on it
        data = cut_training_split(task, config, size)
    run = fit(task, config, output_dir=run_dir, verbose=0, data=data, time_budget=spec.time_budget)
    finish(run)
    history = {key: [float(v) for v in values] for key, values in run.history.items()}  # as in history.json
    latency = inference_latency_ms(run)
    keras.backend.clear_session()
    metrics = run.metrics
    epochs = metrics["epochs_trained"]
    extra = {k: v for k, v in metrics.items() if k not in (spec.metric, "parameters", "train_seconds", "epochs_trained")}
    monitor, mode = task.monitor(config)
    values = [value for value in history.get(monitor, []) if np.isfinite(value)]
    extra.update(monitor=monitor, best_validation=(min if mode == "min" else max)(values) if values else None)
    return {
        "kind": "task", "task": spec.name, "data": run.config["data"], "cell": label or cell, "seed": seed,
        "param_matched": bool(label), "units": run.config["units"], "parameters": metrics["parameters"],
        "metric": spec.metric, "value": metrics[spec.metric], "higher_is_better": spec.higher_is_better,
        "train_seconds": metrics["train_seconds"], "epochs_trained": epochs,
        "seconds_per_epoch": round(metrics["train_seconds"] / max(epochs, 1), 2),
        "epochs_to_target": epochs_to_target(history, spec.target), "latency_ms": round(latency, 3),
        "loss_curve": curve(history, "loss"), "val_loss_curve": curve(history, "val_loss"),
        "extra": json.dumps(extra, default=float),
    }


# ------------------------------------------------------------------ baselines


def run_baseline(spec, method, data_dir):
    """One of the task's baselines (`Task.baseline`) on the spec's data (its training split cut
    as the spec cuts it)."""
    task, config = run_config(spec, "gru", 0, data_dir)
    start = time.perf_counter()
    size = spec.overrides.get("train_subset")
    data = cut_training_split(task, config, size) if size else task.build_inputs(config)
    value, parameters, extra = task.baseline(method, config, data)
    return {
        "kind": "baseline", "task": spec.name, "data": config["data"], "cell": method, "seed": "",
        "parameters": parameters, "metric": spec.metric, "value": value,
        "higher_is_better": spec.higher_is_better, "train_seconds": round(time.perf_counter() - start, 1),
        "extra": json.dumps(extra),
    }


# --------------------------------------------------------------------- probes


def run_probe(grid, probe, cell, length, seed=0, label=None, forget_bias=None):
    import keras

    from evaluation import probes

    model, result = probes.train_probe(
        probe, cell, length, seed, grid.probe_steps, units=grid.probe_units, copied=grid.copied,
        forget_bias=forget_bias,
    )
    keras.backend.clear_session()
    return {
        "kind": "probe", "task": probe, "cell": label or cell, "seed": seed, "units": grid.probe_units,
        "length": length,
        "parameters": result["parameters"], "metric": "mse" if probe == "adding" else "recall_accuracy",
        "value": result["score"], "higher_is_better": probe == "copy", "solved": result["solved"],
        "train_seconds": round(result["train_seconds"], 1),
        "extra": json.dumps({"final_train_loss": result["final_train_loss"], "steps": grid.probe_steps,
                             "steps_to_solve": result["steps_to_solve"]}),
    }


def run_gradients(grid, cell, results_dir, seed=0):
    """‖∂L/∂h_t‖ over t on the adding problem, at initialisation and after the probe budget."""
    import keras

    from evaluation import probes

    length = grid.gradient_length
    inputs, targets = probes.adding_problem(64, length, np.random.default_rng(20_000 + seed))
    keras.utils.set_random_seed(seed)
    initial = probes.hidden_gradient_norms(probes.probe_model("adding", cell, grid.probe_units), "adding", inputs, targets)
    model, result = probes.train_probe("adding", cell, length, seed, grid.probe_steps, units=grid.probe_units)
    trained = probes.hidden_gradient_norms(model, "adding", inputs, targets)
    keras.backend.clear_session()
    norms_path = results_dir / "gradient_norms.json"
    norms = json.loads(norms_path.read_text()) if norms_path.exists() else {}
    norms[cell] = {"length": length, "initial": initial.tolist(), "trained": trained.tolist()}
    norms_path.write_text(json.dumps(norms))
    ratio = lambda n: float(n[0] / n[-1]) if n[-1] > 0 else float("nan")  # noqa: E731
    return {
        "kind": "gradients", "task": "adding", "cell": cell, "seed": seed, "units": grid.probe_units,
        "length": length, "parameters": result["parameters"], "metric": "grad_ratio_first_last_trained",
        "value": ratio(trained), "extra": json.dumps({"initial_ratio": ratio(initial), "mse": result["score"]}),
    }


def run_latency(grid, cell, length):
    import keras
    import tensorflow as tf

    from evaluation import probes
    from evaluation.latency import forward_latency_ms

    keras.utils.set_random_seed(0)
    model = probes.probe_model("adding", cell, grid.probe_units)
    inputs, _ = probes.adding_problem(1, length, np.random.default_rng(0))
    sequence_ms = forward_latency_ms(model, tf.constant(inputs), repeats=5)
    step_ms, state_bytes = probes.step_latency_ms(model, past_steps=length - 1)  # the T-th step
    keras.backend.clear_session()
    return {
        "kind": "latency", "task": "sequence", "cell": cell, "units": grid.probe_units, "length": length,
        "parameters": model.count_params(), "metric": "sequence_ms", "value": round(sequence_ms, 3),
        "latency_ms": round(sequence_ms, 3), "step_latency_ms": round(step_ms, 4),
        "extra": json.dumps({"state_bytes": state_bytes}),
    }


# ----------------------------------------------------------------------- grid


def plan(grid, data_dir):
    """(run id, function of (run_dir, results_dir) returning the row) for every run, in order."""
    from zoo.task import get_task

    runs = []
    for spec in grid.tasks:
        for seed in grid.seeds:
            for cell in grid.cells:
                runs.append((f"{spec.name}/{cell}/{seed}", lambda run_dir, _, s=spec, c=cell, d=seed: run_task(
                    s, c, d, data_dir, run_dir, units=matched_units(s.name, data_dir, c) if c in ENCODERS else None)))
            if grid.matched:
                runs.append((f"{spec.name}/gru_matched/{seed}", lambda run_dir, _, s=spec, d=seed: run_task(
                    s, "gru", d, data_dir, run_dir, units=matched_units(s.name, data_dir), label="gru_matched")))
        for method in get_task(spec.task).baseline_methods:
            runs.append((f"{spec.name}/{method}", lambda *_, s=spec, m=method: run_baseline(s, m, data_dir)))
    for probe in ("adding", "copy"):
        for label, cell, forget_bias in grid.probe_variants():
            for length in grid.probe_lengths:
                runs.append((f"{probe}/{label}/T{length}", lambda *_, p=probe, c=cell, t=length, a=label, b=forget_bias:
                             run_probe(grid, p, c, t, label=a, forget_bias=b)))
    for cell in grid.probe_cells:
        runs.append((f"gradients/{cell}", lambda _, results_dir, c=cell: run_gradients(grid, c, results_dir)))
    for cell in grid.latency_cells or grid.probe_cells:
        for length in grid.latency_lengths:
            runs.append((f"latency/{cell}/T{length}", lambda *_, c=cell, t=length: run_latency(grid, c, t)))
    return runs


def read_rows(path):
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def probe_unsolved_below(rows, run_id):
    """True when the same probe and cell failed at a shorter T (longer T is then skipped)."""
    probe, cell, length = run_id.split("/")
    length = int(length[1:])
    return any(
        r["kind"] == "probe" and r["task"] == probe and r["cell"] == cell
        and int(r["length"]) < length and r["solved"] == "False"
        for r in rows
    )


def write_rows(csv_path, rows):
    new_file = not csv_path.exists()
    with open(csv_path, "a", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS)
        if new_file:
            writer.writeheader()
        writer.writerows({column: row.get(column, "") for column in COLUMNS} for row in rows)


def reuse_rows(reuse_dir, results_dir, run_ids, done):
    """Copies the rows (and gradient norms) of `reuse_dir`'s runs that this grid plans and lacks.

    Grids that share task specs (MEDIUM_TASKS) and probe settings plan the same runs under
    the same ids, so another grid's finished runs count as done here.
    """
    if not (reuse_dir / "results.csv").exists():
        raise FileNotFoundError(f"--reuse {reuse_dir}: no results.csv there")
    rows = [row for row in read_rows(reuse_dir / "results.csv") if row["run"] in run_ids and row["run"] not in done]
    write_rows(results_dir / "results.csv", rows)
    reused_cells = [row["cell"] for row in rows if row["kind"] == "gradients"]
    if reused_cells:
        source = json.loads((reuse_dir / "gradient_norms.json").read_text())
        norms_path = results_dir / "gradient_norms.json"
        norms = json.loads(norms_path.read_text()) if norms_path.exists() else {}
        norms.update({cell: source[cell] for cell in reused_cells})
        norms_path.write_text(json.dumps(norms))
    return {row["run"] for row in rows}


def run_grid(grid, name, results_dir, data_dir, reuse_dir=None):
    """Runs what `results_dir/results.csv` lacks of the grid; returns the wall seconds."""
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "logs").mkdir(exist_ok=True)
    csv_path = results_dir / "results.csv"
    done = {row["run"] for row in read_rows(csv_path)}
    runs = plan(grid, data_dir)
    if reuse_dir:
        reused = reuse_rows(pathlib.Path(reuse_dir), results_dir, {run_id for run_id, _ in runs}, done)
        print(f"grid {name}: {len(reused)} finished runs reused from {reuse_dir}", flush=True)
        done |= reused
    todo = [(run_id, fn) for run_id, fn in runs if run_id not in done]
    print(f"grid {name}: {len(runs)} runs, {len(runs) - len(todo)} already in {csv_path}, {len(todo)} to run", flush=True)
    start = time.perf_counter()
    for index, (run_id, fn) in enumerate(todo, start=1):
        if run_id.startswith(("adding/", "copy/")) and probe_unsolved_below(read_rows(csv_path), run_id):
            print(f"[{index}/{len(todo)}] {run_id}: skipped (unsolved at a shorter T)", flush=True)
            continue
        run_start = time.perf_counter()
        log_path = results_dir / "logs" / (run_id.replace("/", "_") + ".log")
        with open(log_path, "w") as log, contextlib.redirect_stdout(log):
            row = fn(results_dir / "runs" / run_id.replace("/", "_"), results_dir)
        row = {"run": run_id, **row}
        write_rows(csv_path, [row])
        elapsed = time.perf_counter() - start
        remaining = elapsed / index * (len(todo) - index)
        value = row.get("value")
        shown = f"{row.get('metric')}={value:.4f}" if isinstance(value, float) else f"{row.get('metric')}={value}"
        print(
            f"[{index}/{len(todo)}] {run_id}: {shown} in {time.perf_counter() - run_start:.0f} s "
            f"(elapsed {elapsed / 60:.1f} min, about {remaining / 60:.1f} min left)",
            flush=True,
        )
    return time.perf_counter() - start
