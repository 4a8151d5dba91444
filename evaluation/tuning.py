"""Equal tuning budgets (Greff et al. 2016): each cell gets the same number of Optuna trials
over the same search space, is picked by validation, and is then retrained with every seed.

    python evaluate.py --task sentiment --data csv --data-dir reviews/ --cells gru,lstm --trials 20

For each cell, an Optuna study `<task>-<data>-<cell>` in `--storage` (default a SQLite file,
`results/<name>/tuning.db`; a database URL when machines share one). Running the same
command in more processes or on more machines against one storage runs trials in parallel:
Optuna hands out the trials and `MaxTrialsCallback` stops every process once a study has
its N finished trials (processes that started a trial before then finish it: a study can
end a few trials over N, one per extra process at most). A rerun continues a study and
never trains past N. Random search or TPE (`--sampler`), seeded alike for every cell: random
search gives every cell the same draws (a paired comparison), TPE the same first draws.

The search space (`search_space`), around the task's defaults: learning rate (log-uniform
3e-4 .. 1e-2), units (log-uniform, a quarter to twice the default), layers (1-3), dropout
(0-0.5), batch size (half, the default, double) and gradient clipping (log-uniform 0.1-10).
A trial trains through `zoo.training.fit` like any run (`evaluation.runs.run_task`) and is
scored by the best validation value of the task's monitor (early stopping's).

What is written to `results/<name>/`:
- `tuning.csv`: one row per trial (cell, number, hyperparameters, validation, test);
- `results.csv`: `<cell>_tuned` rows, the best trial's hyperparameters retrained with each seed;
- `importance.json`: fANOVA importances (Hutter et al. 2014, as Greff et al.; Optuna's
  `FanovaImportanceEvaluator`) per cell, and over all trials with the cell as one more
  hyperparameter: the share of the validation variance each explains. The report's verdict
  "tuning matters more than the choice of cell" compares the hyperparameters' summed share
  with the cell's.
"""

import contextlib
import csv
import json
import time

from evaluation.runs import run_config, run_task, write_rows

SAMPLERS = ("tpe", "random")
TUNED = ("learning_rate", "units", "num_layers", "dropout", "batch_size", "clipnorm")


def search_space(trial, defaults):
    """The trial's hyperparameters, around the task's `defaults` (see the module docstring)."""
    units, batch = defaults["units"], defaults["batch_size"]
    return {
        "learning_rate": trial.suggest_float("learning_rate", 3e-4, 1e-2, log=True),
        "units": trial.suggest_int("units", max(8, units // 4), 2 * units, log=True),
        "num_layers": trial.suggest_int("num_layers", 1, 3),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "batch_size": trial.suggest_categorical("batch_size", sorted({max(8, batch // 2), batch, 2 * batch})),
        "clipnorm": trial.suggest_float("clipnorm", 0.1, 10.0, log=True),
    }


def check_settings(trials, sampler):
    if trials < 1:
        raise ValueError(f"--trials {trials}: give at least 1 (the trials each cell gets).")
    if sampler not in SAMPLERS:
        raise ValueError(f"--sampler {sampler}: choose one of {list(SAMPLERS)}.")


def make_sampler(name, seed=0):
    import optuna

    return optuna.samplers.TPESampler(seed=seed) if name == "tpe" else optuna.samplers.RandomSampler(seed=seed)


def tune(grid, results_dir, trials, storage=None, sampler="tpe", data_dir=None):
    """Tunes every cell of the grid's (single) task with `trials` trials, retrains each cell's
    best with every seed, and writes tuning.csv, results.csv rows and importance.json."""
    import optuna

    check_settings(trials, sampler)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (spec,) = grid.tasks
    storage = storage or f"sqlite:///{(results_dir / 'tuning.db').resolve()}"
    task, config = run_config(spec, grid.cells[0], 0, data_dir)
    defaults = {name: config[name] for name in TUNED}
    direction = "minimize" if task.monitor(config)[1] == "min" else "maximize"
    studies, start = {}, time.perf_counter()
    total, done = trials * len(grid.cells), 0
    for cell in grid.cells:
        study = optuna.create_study(study_name=f"{spec.name}-{cell}", storage=storage, load_if_exists=True,
                                    direction=direction, sampler=make_sampler(sampler))

        def objective(trial, cell=cell):
            nonlocal done
            tuned = search_space(trial, defaults)
            row = logged_run(results_dir, f"tuning_{cell}_{trial.number}", spec, cell, 0, data_dir, tuned)
            extra = json.loads(row["extra"])
            trial.set_user_attr("test", row["value"])
            trial.set_user_attr("parameters", row["parameters"])
            done += 1
            elapsed = time.perf_counter() - start
            validation = extra["best_validation"]
            print(f"[trial {done}/{total}] {cell} #{trial.number}: {extra['monitor']}="
                  f"{'none finite' if validation is None else f'{validation:.4f}'} {spec.metric}={row['value']:.4f} "
                  f"(elapsed {elapsed / 60:.1f} min, about {elapsed / done * (total - done) / 60:.1f} min left)",
                  flush=True)
            if validation is None:
                raise optuna.TrialPruned("no finite validation value")
            return validation

        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        remaining = trials - len(study.get_trials(deepcopy=False, states=finished))
        if remaining > 0:  # a rerun (or another process) continues the study, never past N
            study.optimize(objective, n_trials=remaining,
                           callbacks=[optuna.study.MaxTrialsCallback(trials, states=finished)])
        else:
            print(f"{spec.name}-{cell}: {trials} trials already in {storage}", flush=True)
        studies[cell] = study
    write_trials(results_dir / "tuning.csv", spec, studies)
    retrain_best(spec, studies, grid.seeds, results_dir, data_dir)
    (results_dir / "importance.json").write_text(json.dumps(importances(studies, direction), indent=2))


def logged_run(results_dir, name, spec, cell, seed, data_dir, tuned, label=None):
    """`run_task` in `results_dir/runs/<name>`, its output in `results_dir/logs/<name>.log`."""
    (results_dir / "logs").mkdir(parents=True, exist_ok=True)
    with open(results_dir / "logs" / f"{name}.log", "w") as log, contextlib.redirect_stdout(log):
        return run_task(spec, cell, seed, data_dir, results_dir / "runs" / name, label=label, tuned=tuned)


def completed(study):
    import optuna

    return [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]


def write_trials(path, spec, studies):
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, ["task", "cell", "trial", *TUNED, "validation", spec.metric, "parameters"])
        writer.writeheader()
        for cell, study in studies.items():
            for trial in completed(study):
                writer.writerow({"task": spec.name, "cell": cell, "trial": trial.number, **trial.params,
                                 "validation": trial.value, spec.metric: trial.user_attrs.get("test"),
                                 "parameters": trial.user_attrs.get("parameters")})


def retrain_best(spec, studies, seeds, results_dir, data_dir):
    """Each cell's best trial retrained with every seed: `<cell>_tuned` rows in results.csv."""
    for cell, study in studies.items():
        for seed in seeds:
            run_id = f"{spec.name}/{cell}_tuned/{seed}"
            row = logged_run(results_dir, run_id.replace("/", "_"), spec, cell, seed, data_dir, study.best_params,
                             label=f"{cell}_tuned")
            extra = json.loads(row["extra"])
            extra["tuned"] = study.best_params
            write_rows(results_dir / "results.csv", [{"run": run_id, **row, "extra": json.dumps(extra, default=float)}])
            print(f"{run_id}: {spec.metric}={row['value']:.4f}", flush=True)


def importances(studies, direction):
    """fANOVA shares per cell and over all trials with `cell` as a hyperparameter."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    evaluator = lambda: optuna.importance.FanovaImportanceEvaluator(seed=0)  # noqa: E731
    finished = {cell: completed(study) for cell, study in studies.items()}
    result = {"per_cell": {}, "all": None, "trials": {cell: len(trials) for cell, trials in finished.items()}}
    for cell, study in studies.items():
        if len(finished[cell]) >= 2:
            result["per_cell"][cell] = optuna.importance.get_param_importances(study, evaluator=evaluator())
    combined = optuna.create_study(direction=direction)
    cells = CategoricalDistribution(list(studies))
    for cell, trials in finished.items():
        for trial in trials:
            combined.add_trial(optuna.trial.create_trial(
                params={**trial.params, "cell": cell}, distributions={**trial.distributions, "cell": cells},
                value=trial.value))
    if len(studies) > 1 and len(combined.trials) >= 2:
        result["all"] = optuna.importance.get_param_importances(combined, evaluator=evaluator())
    result["best_validation"] = {cell: studies[cell].best_value for cell, trials in finished.items() if trials}
    values = {cell: [trial.value for trial in trials] for cell, trials in finished.items()}
    result["validation_range"] = {cell: [float(min(v)), float(max(v))] for cell, v in values.items() if v}
    return result
