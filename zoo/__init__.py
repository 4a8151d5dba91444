"""A model zoo for sequence tasks, built around GRU and LSTM layers."""

from zoo.layers import GRU, LSTM, GRUCell, LSTMCell, compiled_loops

__version__ = "0.1.0"
__all__ = ["GRU", "LSTM", "GRUCell", "LSTMCell", "compiled_loops"]
