"""SavedModel exports in TF Serving's layout: `<base>/<model>/<integer version>/`.

A version is written into a hidden temporary folder beside its final place and
renamed into place only when complete, so a server watching the base folder never
sees half a version. The recurrent loops are traced without XLA (see
`zoo.layers.fused`), since TF Serving's CPU build refuses XLA-must-compile ops.
"""

import json
import os
import pathlib
import shutil
import sys

import keras
import tensorflow as tf

from zoo.layers import compiled_loops

METADATA_FILE = "zoo_metadata.json"  # under assets.extra/, as TF Serving expects extras


def versions(model_dir):
    """The integer versions present in a model folder, ascending."""
    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit() and p.is_dir())


def export_saved_model(model, signatures, model_dir, metadata):
    """Writes the next version of `model_dir`; returns its path.

    Args:
      model: the Keras model whose variables the signatures use.
      signatures: `{name: (function, input_signature)}`, "serving_default" first.
      model_dir: `saved_models/<task>-<cell>`.
      metadata: JSON-serialisable dict stored as `assets.extra/zoo_metadata.json`.
    """
    model_dir = pathlib.Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    version = (versions(model_dir) or [0])[-1] + 1
    staging = model_dir / f".staging-{version}-{os.getpid()}"
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        for name, (function, input_signature) in signatures.items():
            archive.add_endpoint(name, function, input_signature=input_signature)
        with compiled_loops(False):
            archive.write_out(str(staging), verbose=False)
        extra = staging / "assets.extra"
        extra.mkdir(exist_ok=True)
        metadata = {**metadata, "version": version, "library_versions": library_versions()}
        (extra / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
        final = model_dir / str(version)
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def library_versions():
    import sklearn

    import zoo

    return {
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "scikit-learn": sklearn.__version__,
        "zoo": zoo.__version__,
    }
