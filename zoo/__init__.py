"""A model zoo for sequence tasks, built around GRU and LSTM layers."""

from zoo.catalog import list_models
from zoo.layers import GRU, LSTM, GRUCell, LSTMCell, compiled_loops
from zoo.loading import load
from zoo.task import create_model, get_task, list_tasks

__version__ = "0.1.0"
__all__ = [
    "GRU", "LSTM", "GRUCell", "LSTMCell", "compiled_loops", "load", "list_models", "create_model", "get_task",
    "list_tasks",
]
