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

from zoo import distribute, edge, hyperparameters  # noqa: E402
from zoo.export import check_writable  # noqa: E402
from zoo.task import get_task, list_tasks, resolve_config  # noqa: E402
from zoo.training import (  # noqa: E402
    export,
    finish,
    fit,
    latest_partial_run,
    load_parent,
    parent_hyperparameters,
    resumed_hyperparameters,
    trained_run,
    write_fine_tuned_card,
)

RUN_OPTIONS = ("task", "output_dir", "export_dir", "resume", "quiet", "init_from", "formats", "strategy",
               "mixed_precision")


def build_parser(task):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="sentiment", choices=list_tasks(),
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
    parser.add_argument("--strategy", choices=distribute.STRATEGIES, default="default",
                        help="default: one device; mirrored: every local GPU (tf.distribute.MirroredStrategy); "
                        "multi_worker: the machines in TF_CONFIG, one process each, same command; only the "
                        "chief writes the run and the export. --batch-size stays the global batch "
                        "(README: \"Training on more devices and machines\")")
    parser.add_argument("--mixed-precision", choices=distribute.MIXED_PRECISION,
                        help="compute in 16 bits, variables and recurrences in float32 (default: float32)")
    parser.add_argument("--formats", nargs="+", choices=sorted(edge.FORMATS), metavar="FORMAT",
                        help="also write the export's on-device files: litert and/or onnx (see zoo/edge.py)")
    hyperparameters.add_arguments(parser, task.hyperparameters, f"{task.name} hyperparameters")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    task_name = argparse.ArgumentParser(add_help=False)
    task_name.add_argument("--task", default="sentiment")
    known, _ = task_name.parse_known_args(argv)
    if known.task not in list_tasks():
        sys.exit(f"train.py: unknown task {known.task!r}; choose one of {list_tasks()}.")
    task = get_task(known.task)
    args = vars(build_parser(task).parse_args(argv))
    run_options = {key: args.pop(key) for key in RUN_OPTIONS}
    try:
        chief = run_options["strategy"] != "multi_worker" or distribute.is_chief()
        if not chief:  # the chief writes the run and the export; this worker keeps its state aside
            run_options["output_dir"] = distribute.worker_output_dir(run_options["output_dir"])
        parent = None
        if run_options["init_from"] and run_options["resume"]:
            raise ValueError("--resume continues an unfinished run with its own settings and weights; --init-from "
                             "starts a new run from a model's: give one of them.")
        if run_options["init_from"]:
            parent = load_parent(run_options["init_from"], task)
            args = {**parent_hyperparameters(parent, task), **{k: v for k, v in args.items() if v is not None}}
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
    except (ValueError, FileNotFoundError, PermissionError, FloatingPointError, distribute.WorkerLost) as error:
        sys.exit(f"train.py: {error}")


if __name__ == "__main__":
    main()
