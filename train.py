"""Train, evaluate and export one model: `python train.py --task sentiment --cell gru`.

Every hyperparameter flag comes from the task's table (`python train.py --task T
--help` lists them with their defaults); flags left out keep the task's tuned
default. The run folder gets the config, TensorBoard logs, checkpoints, history
and `metrics.json`; the SavedModel goes to `saved_models/<task>-<cell>/<version>/`.
"""

import argparse
import os
import pathlib
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Only what checks the flags is imported here: TensorFlow and the task come after (`main`), so a bad
# flag or `--help` answers at once.
from zoo import hyperparameters  # noqa: E402
from zoo.run_options import EDGE_FORMATS, MIXED_PRECISION, STRATEGIES  # noqa: E402
from zoo.task import hyperparameter_table, task_names  # noqa: E402

RUN_OPTIONS = ("task", "output_dir", "export_dir", "resume", "quiet", "init_from", "formats", "strategy",
               "mixed_precision")


def build_parser(task_name):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="sentiment", choices=task_names(),
                        help="the task to train (default: sentiment)")
    parser.add_argument("--output-dir", default="runs", help="where run folders go (default: runs)")
    parser.add_argument("--export-dir", default="saved_models",
                        help="SavedModel base folder (default: saved_models)")
    parser.add_argument(
        "--resume", nargs="?", const="latest", metavar="RUN_DIR",
        help="continue an unfinished run (default: the latest one of this task and cell)",
    )
    parser.add_argument(
        "--init-from", metavar="MODEL",
        help="start from this model's weights and vocabulary (a shipped model's name, e.g. "
        "sentiment-imdb-gru, or an export folder); its hyperparameters are the defaults",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="default: one device; mirrored: every local GPU (tf.distribute.MirroredStrategy); "
                        "multi_worker: the machines in TF_CONFIG, one process each, same command; only the "
                        "chief writes the run and the export. --batch-size stays the global batch "
                        "(README: \"Training on more devices and machines\")")
    parser.add_argument("--mixed-precision", choices=MIXED_PRECISION,
                        help="compute in 16 bits, variables and recurrences in float32 (default: float32)")
    parser.add_argument("--formats", nargs="+", choices=sorted(EDGE_FORMATS), metavar="FORMAT",
                        help="also write the export's on-device files: litert and/or onnx (see zoo/edge.py)")
    hyperparameters.add_arguments(parser, hyperparameter_table(task_name), f"{task_name} hyperparameters")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    task_name = argparse.ArgumentParser(add_help=False)
    task_name.add_argument("--task", default="sentiment")
    known, _ = task_name.parse_known_args(argv)
    if known.task not in task_names():
        sys.exit(f"train.py: unknown task {known.task!r}; choose one of {task_names()}.")
    args = vars(build_parser(known.task).parse_args(argv))
    run_options = {key: args.pop(key) for key in RUN_OPTIONS}
    try:
        check_flags(known.task, args, run_options)
        train(known.task, args, run_options, argv)
    except (ValueError, FileNotFoundError, PermissionError, FloatingPointError) as error:
        sys.exit(f"train.py: {error}")


def check_flags(task_name, args, run_options):
    """ValueError for a flag value outside its range or type, or flags that do not combine: before
    TensorFlow is imported."""
    hyperparameters.resolve(hyperparameter_table(task_name), f"task {task_name!r}", **args)
    if run_options["init_from"] and run_options["resume"]:
        raise ValueError("--resume continues an unfinished run with its own settings and weights; --init-from "
                         "starts a new run from a model's: give one of them.")


def train(task_name, args, run_options, argv):
    """Trains, exports and finishes one run of checked flags (or exports a resumed run that was trained)."""
    from zoo import distribute, edge
    from zoo.export import check_writable
    from zoo.task import get_task, resolve_config
    from zoo.training import (
        export,
        fine_tuning_hyperparameters,
        finish,
        fit,
        latest_partial_run,
        load_parent,
        resumed_hyperparameters,
        trained_run,
        write_fine_tuned_card,
    )

    task = get_task(task_name)
    try:
        chief = run_options["strategy"] != "multi_worker" or distribute.is_chief()
        if not chief:  # the chief writes the run and the export; this worker keeps its state aside
            run_options["output_dir"] = distribute.worker_output_dir(run_options["output_dir"])
        parent = None
        if run_options["init_from"]:
            parent = load_parent(run_options["init_from"], task)
            args = fine_tuning_hyperparameters(parent, task, args)
        resume = run_options["resume"]
        if resume == "latest":
            resume = latest_partial_run(run_options["output_dir"], task.name, args["cell"] or task.defaults["cell"])
        if resume:
            args = resumed_hyperparameters(pathlib.Path(resume), task, args)
        config = resolve_config(task, **args)
        for folder in (run_options["output_dir"], run_options["export_dir"]):
            check_writable(folder)  # before training, not after it
        if run_options["formats"]:
            edge.check_config(task, config, run_options["formats"])
        run = (resume and trained_run(task, config, resume)) or fit(
            task, config, run_options["output_dir"], resume, verbose=2 if run_options["quiet"] else 1,
            init_from=parent, strategy=run_options["strategy"], mixed_precision=run_options["mixed_precision"])
        if not chief:
            shutil.rmtree(run.run_dir)
            if not any(run.run_dir.parent.iterdir()):
                run.run_dir.parent.rmdir()
            print(f"worker done; the chief writes the run folder and the export ({run.run_dir} removed)")
            return
        path = export(task, run, run_options["export_dir"])
        if parent is not None:
            write_fine_tuned_card(run, path, ["python", "train.py", *argv])
        if run_options["formats"]:
            for item in edge.convert(path, run_options["formats"]):
                print(f"wrote {item.path} (max difference from TensorFlow {item.max_difference:.2g})")
        finish(run)
    except distribute.WorkerLost as error:
        sys.exit(f"train.py: {error}")


if __name__ == "__main__":
    main()
