"""GRU or LSTM, for my data? A grid of tasks x cells x seeds under equal budgets, and a report.

    python evaluate.py --quick                       # about 10 minutes on 2 CPU cores
    python evaluate.py --grid medium --data-dir ../shared/data   # about 45 minutes
    python evaluate.py --grid greff --data-dir ../shared/data    # LSTM variants, about 30 minutes
    python evaluate.py --grid full --data-dir ../shared/data --reuse results/medium   # about an hour
    python evaluate.py --grid quick --report-only    # rewrite report.md from results.csv

Every task run goes through `zoo.training.train_and_export` (the loop `train.py`
uses), with the grid's overrides of the task's defaults and no export. Runs append
one row each to `results/<name>/results.csv` as they finish; a rerun skips the runs
already there. Besides the cells at equal units, each grid has a parameter-matched
GRU (`gru_matched`: more units, so its parameter count equals the LSTM's, as Chung et
al. 2014 compared them), the tasks' baselines (TF-IDF + logistic regression;
sNaive, Naive2), the long-range probes of `zoo.probes`, and latency rows (whole
sequence vs one streaming step). `results/<name>/report.md` and its PNGs are
rewritten after the grid.
"""

import argparse
import contextlib
import csv
import dataclasses
import functools
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

COLUMNS = [
    "run", "kind", "task", "data", "cell", "seed", "param_matched", "units", "length",
    "parameters", "metric", "value", "higher_is_better", "solved", "train_seconds",
    "epochs_trained", "seconds_per_epoch", "epochs_to_target", "latency_ms", "step_latency_ms",
    "loss_curve", "val_loss_curve", "extra",
]


@dataclasses.dataclass
class TaskSpec:
    """One task of a grid: a registry task with overrides, its metric and target."""

    name: str  # the row label, e.g. "sentiment-synthetic-2k"
    task: str  # registry name
    overrides: dict
    metric: str  # the headline test metric
    higher_is_better: bool
    target: tuple  # (history key, threshold): "epochs to target" is the first epoch reaching it
    family: str = None  # tasks of one family differ only in training-set size
    train_size: int = None


@dataclasses.dataclass
class Grid:
    tasks: list
    cells: list  # at equal units; "gru" and "lstm" must be among them for the comparisons
    seeds: list
    probe_cells: list
    probe_lengths: list  # T for the adding and copy problems, shortest first
    probe_steps: int  # the training budget at every T: batches of 32 new examples
    probe_units: int = 32
    copied: int = 3  # symbols to recall in copy memory
    gradient_length: int = 50  # T of the gradient-norm measurement
    latency_lengths: tuple = (50, 100, 200, 500, 1000)
    matched: bool = True  # also run the parameter-matched GRU


def sentiment(name, size, data="synthetic", target=0.75, **overrides):
    return TaskSpec(
        name, "sentiment", {"data": data, "ngrams": 0, **overrides}, "test_accuracy", True, ("val_accuracy", target),
        family=f"sentiment-{data}", train_size=size,
    )


def forecasting(name, target, **overrides):
    return TaskSpec(name, "forecasting", overrides, "owa", False, ("val_loss", target))


# Small models, small data, few epochs: equal budgets, not tuned to any cell.
# The synthetic corpus sits at chance for ~3 epochs before the order cue is found,
# so the quick grid trains 6 epochs without early stopping.
QUICK_SENTIMENT = dict(
    sequence_length=60, vocabulary_size=2000, embedding_dim=32, units=32, bidirectional=False,
    epochs=6, patience=6, learning_rate=5e-3, batch_size=64, synthetic_test_size=1000,
)
QUICK_FORECASTING = dict(
    data="synthetic", synthetic_series=60, units=24, num_layers=1, epochs=3, steps_per_epoch=25,
    batch_size=64,
)
GREFF = [
    "lstm_peephole", "lstm_nig", "lstm_nfg", "lstm_nog", "lstm_niaf", "lstm_noaf", "lstm_cifg", "lstm_fgr",
]

# The real data with reduced budgets (IMDB cut to 200 tokens, one-layer models), shared
# by the grids that run them so their rows are the same runs.
MEDIUM_TASKS = [
    sentiment("sentiment-imdb-5k", 5000, data="imdb", target=0.8, train_subset=5000, sequence_length=200,
              units=32, epochs=3, bidirectional=False),
    sentiment("sentiment-imdb-22k", 22500, data="imdb", target=0.8, sequence_length=200, units=32,
              epochs=3, bidirectional=False),
    forecasting("forecasting-m4-hourly", 0.08, data="m4", units=64, num_layers=1, epochs=10),
]
# Streaming (unidirectional) digit strings, FSDD split by take, a reduced budget; greedy decoding.
CTC_FSDD = TaskSpec(
    "ctc-fsdd", "ctc_speech",
    {"data": "fsdd", "bidirectional": False, "units": 64, "epochs": 12, "train_utterances": 1200,
     "validation_utterances": 320, "test_utterances": 300, "beam_width": 1},
    "cer", False, ("val_cer", 0.1),
)

GRIDS = {
    # For tests: one tiny task, two seeds, two probe lengths; about a minute.
    "smoke": Grid(
        tasks=[forecasting("forecasting-tiny", 0.2, data="synthetic", synthetic_series=12, units=8,
                           num_layers=1, epochs=2, steps_per_epoch=3, batch_size=16)],
        cells=["gru", "lstm", "rnn"], seeds=[0, 1], probe_cells=["gru", "lstm"],
        probe_lengths=[10, 20], probe_steps=5, probe_units=8, copied=2, gradient_length=10,
        latency_lengths=(10, 40),
    ),
    "quick": Grid(
        tasks=[
            sentiment("sentiment-synthetic-2k", 1800, target=0.9, synthetic_train_size=2000, **QUICK_SENTIMENT),
            sentiment("sentiment-synthetic-6k", 5400, target=0.9, synthetic_train_size=6000, **QUICK_SENTIMENT),
            forecasting("forecasting-synthetic", 0.12, **QUICK_FORECASTING),
        ],
        cells=["gru", "lstm", "rnn"], seeds=[0, 1, 2], probe_cells=["gru", "lstm", "rnn"],
        probe_lengths=[50, 100], probe_steps=600, gradient_length=50,
    ),
    # The real data with reduced budgets: IMDB cut to 200 tokens, M4 Hourly, 3 seeds.
    "medium": Grid(
        tasks=MEDIUM_TASKS, cells=["gru", "lstm", "rnn"], seeds=[0, 1, 2],
        probe_cells=["gru", "lstm", "rnn", "lstm_cifg"], probe_lengths=[50, 100, 200], probe_steps=1000,
    ),
    # Greff et al. 2016's LSTM variants beside GRU/LSTM: IMDB 5k at the medium budget and
    # the probes (about 30 min).
    "greff": Grid(
        tasks=MEDIUM_TASKS[:1],
        cells=["gru", "lstm", "rnn", *GREFF], seeds=[0, 1, 2], probe_cells=["gru", "lstm", "rnn", *GREFF],
        probe_lengths=[50, 100, 200], probe_steps=1000, matched=False,
    ),
    # The three real datasets: medium's tasks plus streaming CTC on FSDD, both GRU forms and
    # the coupled-gate LSTM beside medium's cells, the probes up to T=1000 (about an hour
    # with medium's runs reused: --reuse results/medium).
    "full": Grid(
        tasks=[CTC_FSDD, *MEDIUM_TASKS], cells=["gru", "gru_reset_before", "lstm", "lstm_cifg", "rnn"],
        seeds=[0, 1, 2], probe_cells=["gru", "gru_reset_before", "lstm", "lstm_cifg", "rnn"],
        probe_lengths=[50, 100, 200, 500, 1000], probe_steps=1000,
    ),
}
# Folders under --data-dir holding each task's data in the real-data grids.
DATA_FOLDERS = {"imdb": "imdb", "m4": "m4_hourly", "fsdd": "fsdd"}


# ---------------------------------------------------------------------- runs


class KeepingTask:
    """Forwards to a task and keeps the data and model `train_and_export` builds.

    With `train_subset`, the training split is cut to that many examples.
    """

    def __init__(self, task, train_subset=None):
        self._task, self._train_subset = task, train_subset

    def __getattr__(self, name):
        return getattr(self._task, name)

    def build_inputs(self, config):
        if self._train_subset:
            self.data = subset(self._task, config, self._train_subset)
        else:
            self.data = self._task.build_inputs(config)
        return self.data

    def build_model(self, config, data=None):
        self.model = self._task.build_model(config, data)
        return self.model


def task_config(spec, cell, seed, data_dir, units=None):
    from zoo.task import get_task, task_config

    task = get_task(spec.task)
    overrides = {k: v for k, v in spec.overrides.items() if k in task.defaults}
    source = overrides.get("data")
    if source in DATA_FOLDERS:
        if not data_dir:
            raise ValueError(f"{spec.name}: --data-dir is needed (the folder with {DATA_FOLDERS[source]}/).")
        overrides["data_dir"] = str(pathlib.Path(data_dir) / DATA_FOLDERS[source])
    config = task_config(task, cell=cell, seed=seed, **overrides)
    if units:
        config["units"] = units
    config["verbose"] = 0
    return task, config


def subset(task, config, size):
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
def matched_units(spec_name, data_dir):
    """GRU units whose model has the LSTM model's parameter count (nearest from above or below)."""
    import keras

    spec = next(spec for grid in GRIDS.values() for spec in grid.tasks if spec.name == spec_name)

    def count(cell, units):
        task, config = task_config(spec, cell, 0, data_dir, units)
        count = task.build_model(config, None).count_params()
        keras.backend.clear_session()
        return count

    base = task_config(spec, "lstm", 0, data_dir)[1]["units"]
    target = count("lstm", base)
    low, high = base, 2 * base
    while high - low > 1:  # the count grows with units
        middle = (low + high) // 2
        low, high = (middle, high) if count("gru", middle) <= target else (low, middle)
    return min((low, high), key=lambda units: abs(count("gru", units) - target))


def inference_latency_ms(task, model, config, repeats=20):
    """Median ms of the model on one test example (batch 1)."""
    import tensorflow as tf

    examples = task.serving_examples(task.data, config)
    inputs = {name: tf.constant(values[:1]) for name, values in examples.items()}
    if len(inputs) == 1:
        inputs = next(iter(inputs.values()))
    forward = tf.function(lambda x: model(x, training=False))
    forward(inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), forward(inputs))
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def epochs_to_target(history, target):
    key, threshold = target
    values = history.get(key, [])
    higher = "accuracy" in key
    for epoch, value in enumerate(values, start=1):
        if (value >= threshold) if higher else (value <= threshold):
            return epoch
    return ""


def run_task(spec, cell, seed, data_dir, run_dir, units=None, label=None):
    """Trains one (task, cell, seed) through zoo.training; returns its CSV row."""
    import keras

    from zoo.training import train_and_export

    task, config = task_config(spec, cell, seed, data_dir, units)
    kept = KeepingTask(task, spec.overrides.get("train_subset"))
    final_dir, metrics, _ = train_and_export(kept, config, output_dir=run_dir, export_dir=None)
    history = json.loads((final_dir / "history.json").read_text())
    latency = inference_latency_ms(kept, kept.model, config)
    keras.backend.clear_session()
    epochs = metrics["epochs_trained"]
    extra = {k: v for k, v in metrics.items() if k not in (spec.metric, "parameters", "train_seconds", "epochs_trained")}
    return {
        "kind": "task", "task": spec.name, "data": config["data"], "cell": label or cell, "seed": seed,
        "param_matched": bool(label), "units": config["units"], "parameters": metrics["parameters"],
        "metric": spec.metric, "value": metrics[spec.metric], "higher_is_better": spec.higher_is_better,
        "train_seconds": metrics["train_seconds"], "epochs_trained": epochs,
        "seconds_per_epoch": round(metrics["train_seconds"] / max(epochs, 1), 2),
        "epochs_to_target": epochs_to_target(history, spec.target), "latency_ms": round(latency, 3),
        "loss_curve": json.dumps([round(v, 5) for v in history.get("loss", [])]),
        "val_loss_curve": json.dumps([round(v, 5) for v in history.get("val_loss", [])]),
        "extra": json.dumps(extra, default=float),
    }


def run_baseline(spec, method, data_dir):
    """TF-IDF + logistic regression for sentiment; sNaive/Naive2 for forecasting."""
    task, config = task_config(spec, "gru", 0, data_dir)
    start = time.perf_counter()
    if spec.task == "sentiment":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        data = KeepingTask(task, spec.overrides.get("train_subset")).build_inputs(config)

        def texts_and_labels(dataset):
            texts, labels = zip(*((t.decode("utf-8"), int(y)) for t, y in dataset.unbatch().as_numpy_iterator()))
            return texts, labels

        texts, labels = texts_and_labels(data.train)
        test_texts, test_labels = texts_and_labels(data.test)
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_df=0.9, sublinear_tf=True)
        classifier = LogisticRegression(C=4.0, max_iter=2000).fit(vectorizer.fit_transform(texts), labels)
        value = float(classifier.score(vectorizer.transform(test_texts), test_labels))
        parameters, extra = int(classifier.coef_.size + classifier.intercept_.size), {}
    else:
        from tasks.forecasting import forecast_scores
        from zoo import m4

        series = task.build_inputs(config).reference
        naive = m4.benchmark_forecasts("Naive", series.insamples, series.horizon, series.seasonality)
        scores = forecast_scores(series, naive)[{"snaive": "sNaive", "naive2": "Naive2"}[method]]
        value, parameters = scores["owa"], 0
        extra = {"smape": scores["smape"], "mase": scores["mase"]}
    return {
        "kind": "baseline", "task": spec.name, "data": config["data"], "cell": method, "seed": "",
        "parameters": parameters, "metric": spec.metric, "value": value,
        "higher_is_better": spec.higher_is_better, "train_seconds": round(time.perf_counter() - start, 1),
        "extra": json.dumps(extra),
    }


def run_probe(grid, probe, cell, length, seed=0):
    import keras

    from zoo import probes

    model, result = probes.train_probe(
        probe, cell, length, seed, grid.probe_steps, units=grid.probe_units, copied=grid.copied
    )
    keras.backend.clear_session()
    return {
        "kind": "probe", "task": probe, "cell": cell, "seed": seed, "units": grid.probe_units, "length": length,
        "parameters": result["parameters"], "metric": "mse" if probe == "adding" else "recall_accuracy",
        "value": result["score"], "higher_is_better": probe == "copy", "solved": result["solved"],
        "train_seconds": round(result["train_seconds"], 1),
        "extra": json.dumps({"final_train_loss": result["final_train_loss"], "steps": grid.probe_steps}),
    }


def run_gradients(grid, cell, results_dir, seed=0):
    """‖∂L/∂h_t‖ over t on the adding problem, at initialisation and after the probe budget."""
    import keras

    from zoo import probes

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

    from zoo import probes

    keras.utils.set_random_seed(0)
    model = probes.probe_model("adding", cell, grid.probe_units)
    inputs, _ = probes.adding_problem(1, length, np.random.default_rng(0))
    sequence_ms, step_ms = probes.sequence_latency_ms(model, inputs), probes.step_latency_ms(model)
    keras.backend.clear_session()
    return {
        "kind": "latency", "task": "sequence", "cell": cell, "units": grid.probe_units, "length": length,
        "parameters": model.count_params(), "metric": "sequence_ms", "value": round(sequence_ms, 3),
        "latency_ms": round(sequence_ms, 3), "step_latency_ms": round(step_ms, 4),
    }


def plan(grid, data_dir):
    """(run id, function of (run_dir, results_dir) returning the row) for every run, in order."""
    runs = []
    for spec in grid.tasks:
        for seed in grid.seeds:
            for cell in grid.cells:
                runs.append((f"{spec.name}/{cell}/{seed}", lambda run_dir, _, s=spec, c=cell, d=seed: run_task(
                    s, c, d, data_dir, run_dir)))
            if grid.matched:
                runs.append((f"{spec.name}/gru_matched/{seed}", lambda run_dir, _, s=spec, d=seed: run_task(
                    s, "gru", d, data_dir, run_dir, units=matched_units(s.name, data_dir), label="gru_matched")))
        methods = {"sentiment": ["tfidf_logreg"], "forecasting": ["snaive", "naive2"]}.get(spec.task, [])
        for method in methods:
            runs.append((f"{spec.name}/{method}", lambda *_, s=spec, m=method: run_baseline(s, m, data_dir)))
    for probe in ("adding", "copy"):
        for cell in grid.probe_cells:
            for length in grid.probe_lengths:
                runs.append((f"{probe}/{cell}/T{length}", lambda *_, p=probe, c=cell, t=length: run_probe(grid, p, c, t)))
    for cell in grid.probe_cells:
        runs.append((f"gradients/{cell}", lambda _, results_dir, c=cell: run_gradients(grid, c, results_dir)))
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="full", help="which grid (default full)")
    parser.add_argument("--quick", action="store_true", help="the quick grid (same as --grid quick)")
    parser.add_argument("--name", help="results folder name (default: the grid's name)")
    parser.add_argument("--data-dir", default=None, help="folder with imdb/, m4_hourly/, fsdd/ (real-data grids)")
    parser.add_argument("--output-dir", default="results", help="where results/<name>/ goes")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from results.csv")
    parser.add_argument(
        "--reuse", metavar="RESULTS_DIR",
        help="count another grid's finished runs of the same specs as done (e.g. results/medium for full)",
    )
    args = parser.parse_args(argv)
    grid_name = "quick" if args.quick else args.grid
    grid = GRIDS[grid_name]
    results_dir = pathlib.Path(args.output_dir) / (args.name or grid_name)
    if args.data_dir is None and any(spec.overrides.get("data") in DATA_FOLDERS for spec in grid.tasks):
        args.data_dir = os.environ.get("ZOO_DATA_DIR", str(pathlib.Path(__file__).resolve().parent.parent / "shared" / "data"))
    wall_seconds = None
    if not args.report_only:
        try:
            wall_seconds = run_grid(grid, grid_name, results_dir, args.data_dir, args.reuse)
        except (ValueError, FileNotFoundError) as error:
            sys.exit(f"evaluate.py: {error}")
    from zoo.report import write_report

    command = "python evaluate.py " + " ".join(argv if argv is not None else sys.argv[1:])
    path = write_report(results_dir, grid_name, grid, command, wall_seconds)
    print(f"report {path}")


if __name__ == "__main__":
    main()
