"""Train, evaluate and export one model: `python train.py --task sentiment --cell gru`.

Every hyperparameter flag comes from the task's table (`python train.py --task T
--help` lists them with their defaults); flags left out keep the task's tuned
default. The run folder gets the config, TensorBoard logs, checkpoints, history
and `metrics.json`; the SavedModel goes to `saved_models/<task>-<cell>/<version>/`.
"""

import argparse
import json
import os
import pathlib
import shlex
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zoo  # noqa: E402
from zoo import cards, hyperparameters  # noqa: E402
from zoo.export import check_writable  # noqa: E402
from zoo.loading import SavedModel  # noqa: E402
from zoo.task import get_task, list_tasks, resolve_config  # noqa: E402
from zoo.training import FIGURE_FILE, PARTIAL, export, finish, fit, latest_partial_run  # noqa: E402

RUN_OPTIONS = ("task", "output_dir", "export_dir", "resume", "quiet", "init_from")


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
    hyperparameters.add_arguments(parser, task.hyperparameters, f"{task.name} hyperparameters")
    return parser


def load_parent(name, task):
    """The model --init-from names, checked to be one of `task`'s."""
    parent = zoo.load(name)
    if not isinstance(parent, SavedModel):
        raise ValueError(f"--init-from {name}: give an exported model (a name or folder), not a .keras file.")
    parent_task = parent.metadata.get("task")
    if parent_task != task.name:
        raise ValueError(
            f"--init-from {name}: it is a {parent_task} model; --task {task.name} starts from a "
            f"{task.name} model (known: {[m['name'] for m in zoo.list_models() if m['task'] == task.name]})."
        )
    return parent


def parent_hyperparameters(parent, task):
    """The parent's hyperparameters that the task's table has: the defaults of a fine-tuning run."""
    names = {row.name for row in task.hyperparameters}
    return {key: value for key, value in parent.metadata.get("config", {}).items() if key in names}


def write_fine_tuned_card(run, version_dir, command):
    """The card of a fine-tuned model, naming its parent, in the run and the model folder."""
    parent = f"`{run.parent['name']}` version {run.parent['version']}"
    facts = {
        "summary": f"{run.task.name} model fine-tuned from {parent} on {run.data.info.get('source')} data.",
        "task_line": run.task.name, "data": [("data", run.data.description)],
        "architecture": f"as its parent ({run.config['cell']}, {run.config['units']} units)",
        "command": shlex.join(command), "build_seconds": run.metrics["train_seconds"], "parent": parent,
        "baseline_header": ("model", "note"), "baselines": [(parent, "see its card")],
        "not_for": ["Data unlike the data above: measured only on its test split."],
        "picture": FIGURE_FILE, "picture_caption": "the run's picture", "examples": {},
    }
    card = cards.render(zoo.load(version_dir), facts)
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
    names = {row.name for row in task.hyperparameters}
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
    return {name: value for name, value in saved.items() if name in names}


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
        parent = None
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
        run = fit(task, config, run_options["output_dir"], resume, verbose=2 if run_options["quiet"] else 1,
                  init_from=parent)
        path = export(task, run, run_options["export_dir"])
        if parent is not None:
            write_fine_tuned_card(run, path, ["python", "train.py", *argv])
        finish(run)
    except (ValueError, FileNotFoundError, PermissionError, FloatingPointError) as error:
        sys.exit(f"train.py: {error}")


if __name__ == "__main__":
    main()
