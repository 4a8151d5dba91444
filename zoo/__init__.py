"""A model zoo for sequence tasks, built around GRU and LSTM layers.

The names below are imported on first use (PEP 562), so `import zoo.hyperparameters` or
`zoo.task` (what command-line flags are checked against) does not import TensorFlow.
"""

import importlib

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    "GRU": "zoo.layers", "LSTM": "zoo.layers", "GRUCell": "zoo.layers", "LSTMCell": "zoo.layers",
    "compiled_loops": "zoo.layers", "load": "zoo.loading", "list_models": "zoo.catalog",
    "create_model": "zoo.task", "get_task": "zoo.task", "list_tasks": "zoo.task", "from_preset": "zoo.presets",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
