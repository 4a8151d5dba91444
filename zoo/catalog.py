"""Models by name: the zoo's shipped models and your own exports.

    zoo.list_models()                   # every model found, shipped ones first
    zoo.load("sentiment-imdb-gru")      # a model by name (its latest version)

The shipped models live in `saved_models/` of this checkout (beside the `zoo`
package), in TF Serving's layout, each with its card (`README.md`), and are listed
in `saved_models/zoo.json` with the size of every file they need, so a clone that
lacks a file (or has a truncated one) is told which. Your own exports are found in
`$ZOO_MODEL_DIR` and `./saved_models` (or the folders a caller names, e.g. `zoo
serve --model-base-path`). A shipped model's name always means the shipped model:
exports refuse to write under it (`zoo.export.refuse_shipped_name`).
"""

import json
import os
import pathlib
import warnings

from zoo.layout import METADATA_FILE, read_manifest, saved_model_versions

SHIPPED_DIR = pathlib.Path(__file__).resolve().parents[1] / "saved_models"
MODEL_DIR_VARIABLE = "ZOO_MODEL_DIR"


def user_model_dirs(base_dirs=None):
    """Where a user's own exports are looked for: the given folders, else
    `$ZOO_MODEL_DIR` and `./saved_models`."""
    if base_dirs is None:
        base_dirs = [os.environ[MODEL_DIR_VARIABLE]] if os.environ.get(MODEL_DIR_VARIABLE) else []
        if base_dirs and not pathlib.Path(base_dirs[0]).is_dir():
            _say_once(f"${MODEL_DIR_VARIABLE} is {base_dirs[0]}, which is "
                      f"{'a file' if pathlib.Path(base_dirs[0]).exists() else 'missing'}, not a folder of "
                      "models: it is left out.")
        base_dirs.append("saved_models")
    return [pathlib.Path(folder) for folder in base_dirs]


_SAID = set()


def _say_once(message):
    """A warning shown once per process (a setting read on every lookup would repeat it)."""
    if message not in _SAID:
        _SAID.add(message)
        warnings.warn(message, stacklevel=3)


def default_base_path():
    """The folder `zoo serve` serves without --model-base-path: `$ZOO_MODEL_DIR`, else
    `./saved_models` where there is one (in the repository it is the shipped folder,
    your exports beside them), else the shipped models."""
    if os.environ.get(MODEL_DIR_VARIABLE):
        return pathlib.Path(os.environ[MODEL_DIR_VARIABLE])
    return pathlib.Path("saved_models") if pathlib.Path("saved_models").is_dir() else SHIPPED_DIR


def check_shipped(name, shipped_dir=None):
    """The shipped model's folder; FileNotFoundError naming the model and every missing or
    truncated file (a partial clone) otherwise."""
    shipped_dir = pathlib.Path(shipped_dir or SHIPPED_DIR)
    entry = read_manifest(shipped_dir)[name]
    model_dir = shipped_dir / name
    problems = []
    for relative, size in entry["files"].items():
        path = model_dir / relative
        if not path.is_file():
            problems.append(f"{relative} is missing")
        elif path.stat().st_size != size:
            problems.append(f"{relative} has {path.stat().st_size} bytes, not {size}")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise FileNotFoundError(
            f"shipped model {name!r} in {model_dir} is incomplete: {shown}. Restore it with "
            f"`git checkout -- {model_dir}` or rebuild it with benchmarks/build_zoo.py."
        )
    return model_dir


def find_model(name, base_dirs=None, shipped_dir=None):
    """The folder of the model called `name`: a shipped one (checked complete), else the
    first user folder holding it; FileNotFoundError listing the known names otherwise."""
    shipped_dir = pathlib.Path(shipped_dir or SHIPPED_DIR)
    if name in read_manifest(shipped_dir):
        return check_shipped(name, shipped_dir)
    for base in user_model_dirs(base_dirs):
        if saved_model_versions(base / name):
            return base / name
    known = [model["name"] for model in list_models(base_dirs, shipped_dir)]
    raise FileNotFoundError(
        f"no model named {name!r}; known models: {known} (shipped in {shipped_dir}, "
        f"yours in {[str(d) for d in user_model_dirs(base_dirs)]})."
    )


def list_models(base_dirs=None, shipped_dir=None):
    """One dict per model (name, task, versions, shipped, path): shipped first, then yours."""
    shipped_dir = pathlib.Path(shipped_dir or SHIPPED_DIR)
    shipped = read_manifest(shipped_dir)
    candidates = [shipped_dir / name for name in sorted(shipped)]
    for base in user_model_dirs(base_dirs):
        candidates += sorted(base.iterdir()) if base.is_dir() else []
    models, seen = [], set()
    for model_dir in candidates:
        found = saved_model_versions(model_dir)
        if not found or model_dir.name in seen:
            continue
        seen.add(model_dir.name)
        metadata = model_dir / str(found[-1]) / "assets.extra" / METADATA_FILE
        try:
            task = json.loads(metadata.read_text()).get("task") if metadata.is_file() else None
        except (ValueError, AttributeError, OSError) as error:  # one bad file hides no other model
            _say_once(f"{metadata}: not readable ({type(error).__name__}: {error}); {model_dir.name} is listed "
                      "without its task.")
            task = None
        models.append({"name": model_dir.name, "task": task, "versions": found,
                       "shipped": model_dir.name in shipped, "path": str(model_dir)})
    return models
