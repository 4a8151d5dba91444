"""A model zoo for sequence tasks, built around GRU and LSTM layers."""

from zoo.layers import GRU, LSTM, GRUCell, LSTMCell, compiled_loops
from zoo.loading import load

__version__ = "0.1.0"
__all__ = ["GRU", "LSTM", "GRUCell", "LSTMCell", "compiled_loops", "load"]
