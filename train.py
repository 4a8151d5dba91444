"""Train, evaluate and export one model: `python train.py --task sentiment --cell gru`.

Flags default to None so that only what you set overrides the task's tuned
defaults (listed per task in the README). The run folder gets the config,
TensorBoard logs, checkpoints, history and `metrics.json`; the SavedModel goes to
`saved_models/<task>-<cell>/<version>/`.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo.builders import CELLS  # noqa: E402
from zoo.task import get_task, list_tasks, task_config  # noqa: E402
from zoo.training import latest_partial_run, train_and_export  # noqa: E402


def build_parser(task_name):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="sentiment", choices=list_tasks(), help="the task to train")
    parser.add_argument("--cell", choices=sorted(CELLS), help="recurrent cell (default gru)")
    parser.add_argument("--data", help="data source, per task (e.g. imdb, csv, synthetic)")
    parser.add_argument("--data-dir", help="folder with the data files for --data")
    parser.add_argument("--epochs", type=int, help="maximum epochs (early stopping on validation loss)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float, help="peak Adam learning rate (cosine decay)")
    parser.add_argument("--units", type=int, help="units per recurrent layer (per direction)")
    parser.add_argument("--num-layers", type=int, help="stacked recurrent layers")
    parser.add_argument(
        "--bidirectional", action=argparse.BooleanOptionalAction, default=None,
        help="wrap each recurrent layer in Bidirectional",
    )
    parser.add_argument("--dropout", type=float, help="dropout before the output layer")
    parser.add_argument("--seed", type=int, help="random seed for data order, weights, dropout")
    parser.add_argument("--output-dir", default="runs", help="where run folders go (default runs/)")
    parser.add_argument("--export-dir", default="saved_models", help="SavedModel base folder")
    parser.add_argument(
        "--resume", nargs="?", const="latest", metavar="RUN_DIR",
        help="continue an unfinished run (default: the latest one of this task and cell)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    get_task(task_name).add_arguments(parser)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    task_name = argparse.ArgumentParser(add_help=False)
    task_name.add_argument("--task", default="sentiment")
    known, _ = task_name.parse_known_args(argv)
    if known.task not in list_tasks():
        sys.exit(f"train.py: unknown task {known.task!r}; choose one of {list_tasks()}.")
    task = get_task(known.task)
    args = vars(build_parser(task.name).parse_args(argv))

    run_options = {key: args.pop(key) for key in ("task", "output_dir", "export_dir", "resume", "quiet")}
    config = task_config(task, **{k: v for k, v in args.items() if k in task.defaults})
    config["verbose"] = 2 if run_options["quiet"] else 1
    resume = run_options["resume"]
    try:
        if resume == "latest":
            resume = latest_partial_run(run_options["output_dir"], task.name, config["cell"])
        train_and_export(task, config, run_options["output_dir"], run_options["export_dir"], resume)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        sys.exit(f"train.py: {error}")


if __name__ == "__main__":
    main()
