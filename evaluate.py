"""GRU or LSTM, for my data? A grid of tasks x cells x seeds under equal budgets, and a report.

    python evaluate.py --quick                       # about 10 minutes on 2 CPU cores
    python evaluate.py --grid medium --data-dir ../shared/data   # about 45 minutes
    python evaluate.py --grid greff --data-dir ../shared/data    # LSTM variants, about 30 minutes
    python evaluate.py --grid full --data-dir ../shared/data --reuse results/medium   # about an hour
    python evaluate.py --grid quick --report-only    # rewrite report.md from results.csv
    python evaluate.py --task sentiment --data csv --data-dir my_reviews/ --cells gru,lstm,rnn --seeds 3
    python evaluate.py --task forecasting --data csv --data-dir sales.csv --set horizon=8 --set seasonality=4
    python evaluate.py --task sentiment --data csv --data-dir my_reviews/ --cells gru,lstm --trials 20   # tuned

Every task run goes through `zoo.training.fit` (the loop `train.py` uses), with the
grid's overrides of the task's defaults and no export (`evaluation.runs`). Runs append
one row each to `results/<name>/results.csv` as they finish; a rerun skips the runs
already there. The grids are in `evaluation.grids`, the long-range probes in
`evaluation.probes`; `results/<name>/report.md` and its PNGs (`evaluation.report`)
are rewritten after the grid. With `--task`, the grid is the user's data: the task's
own loader for `--data` in `--data-dir`, its defaults, `--cells` x `--seeds`, its
baselines, and `results/<task>-<data>/report.md` (`evaluation.grids.custom_grid`).
`--trials N` then tunes every cell with N Optuna trials and retrains each one's best with
every seed (`evaluation.tuning`: equal budgets, fANOVA importances, the tuning verdict).
"""

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from evaluation.grids import CUSTOM_CELLS, CUSTOM_SEEDS, DATA_FOLDERS, GRIDS, custom_grid  # noqa: E402
from evaluation.runs import run_grid  # noqa: E402
from zoo.hyperparameters import parse_assignment  # noqa: E402
from zoo.task import get_task, list_tasks, task_names  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="full", help="which grid (default full)")
    parser.add_argument("--quick", action="store_true", help="the quick grid (same as --grid quick)")
    parser.add_argument("--name", help="results folder name (default: the grid's name)")
    parser.add_argument("--data-dir", default=None,
                        help="folder with imdb/, m4_hourly/, fsdd/ (real-data grids); with --task, your data's folder")
    parser.add_argument("--task", help=f"compare cells on your data for this task ({', '.join(task_names())}) "
                        "instead of a named grid")
    parser.add_argument("--data", help="with --task: the task's data source (e.g. csv; see train.py --help)")
    parser.add_argument("--cells", help=f"with --task: comma-separated cells (default {','.join(CUSTOM_CELLS)})")
    parser.add_argument("--seeds", type=int, help=f"with --task: seeds per cell (default {CUSTOM_SEEDS})")
    parser.add_argument("--epochs", type=int, help="with --task: epochs per run (default: the task's)")
    parser.add_argument("--budget-minutes", type=float, help="with --task: train every run this many minutes "
                        "(equal wall-clock budgets) instead of the task's epochs")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="with --task: any other hyperparameter of the task (repeatable), e.g. --set units=32")
    parser.add_argument("--trials", type=int, help="with --task: tune each cell with this many Optuna trials "
                        "(the same for every cell), then retrain each cell's best with every seed")
    parser.add_argument("--sampler", default="tpe", help="with --trials: tpe or random (default tpe)")
    parser.add_argument("--storage", help="with --trials: Optuna storage URL shared by parallel processes or "
                        "machines (default: sqlite:///results/<name>/tuning.db)")
    parser.add_argument("--output-dir", default="results", help="where results/<name>/ goes")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from results.csv")
    parser.add_argument(
        "--reuse", metavar="RESULTS_DIR",
        help="count another grid's finished runs of the same specs as done (e.g. results/medium for full)",
    )
    args = parser.parse_args(argv)
    grid_name = "quick" if args.quick else args.grid
    with_task = {"--data": args.data, "--cells": args.cells, "--seeds": args.seeds, "--epochs": args.epochs,
                 "--budget-minutes": args.budget_minutes, "--set": args.set}
    given = [flag for flag, value in with_task.items() if value is not None]
    if given and not args.task:  # a named grid has its own cells, seeds and settings
        sys.exit(f"evaluate.py: {', '.join(given)} compare(s) cells on your data and need(s) --task (with --data "
                 f"and --data-dir); the named grid {grid_name!r} fixes its own cells, seeds and settings.")
    args.cells = args.cells or ",".join(CUSTOM_CELLS)
    args.seeds = CUSTOM_SEEDS if args.seeds is None else args.seeds
    args.set = args.set or []
    if args.trials is not None:
        if not args.task:
            sys.exit("evaluate.py: --trials tunes the cells on your data: give --task, --data and --data-dir too.")
        from evaluation.tuning import check_settings

        try:
            check_settings(args.trials, args.sampler)
        except ValueError as error:
            sys.exit(f"evaluate.py: {error}")
    if args.task:
        if not args.data or not args.data_dir:
            sys.exit("evaluate.py: --task compares cells on your data: give --data and --data-dir too.")
        try:
            overrides = dict(parse_assignment(get_task(args.task).hyperparameters, text) for text in args.set) \
                if args.task in list_tasks() else {}
            if args.epochs:
                overrides["epochs"] = args.epochs
            grid = custom_grid(args.task, args.data, args.data_dir, args.cells.split(","), args.seeds, overrides,
                               args.budget_minutes)
        except ValueError as error:
            sys.exit(f"evaluate.py: {error}")
        grid_name, args.data_dir = grid.tasks[0].name, None
    else:
        grid = GRIDS[grid_name]
    results_dir = pathlib.Path(args.output_dir) / (args.name or grid_name)
    if args.data_dir is None and any(spec.overrides.get("data") in DATA_FOLDERS for spec in grid.tasks):
        args.data_dir = os.environ.get("ZOO_DATA_DIR", str(pathlib.Path(__file__).resolve().parent.parent / "shared" / "data"))
    wall_seconds = None
    if args.report_only and not (results_dir / "results.csv").is_file():
        sys.exit(f"evaluate.py: --report-only: no {results_dir / 'results.csv'} yet; run the grid first (the same "
                 "command without --report-only).")
    if not args.report_only:
        try:
            wall_seconds = run_grid(grid, grid_name, results_dir, args.data_dir, args.reuse)
            if args.trials:
                from evaluation.tuning import tune

                start = time.perf_counter()
                tune(grid, results_dir, args.trials, args.storage, args.sampler, args.data_dir)
                wall_seconds += time.perf_counter() - start
        except (ValueError, FileNotFoundError) as error:
            sys.exit(f"evaluate.py: {error}")
    from evaluation.report import write_report

    command = "python evaluate.py " + " ".join(argv if argv is not None else sys.argv[1:])
    path = write_report(results_dir, grid_name, grid, command, wall_seconds)
    print(f"report {path}")


if __name__ == "__main__":
    main()
