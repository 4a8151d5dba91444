"""Recurrent layers written from their gate equations, in Keras's weight layout."""

from zoo.layers.fused import compiled_loops, portable_loops, unrolled_loops
from zoo.layers.gru import GRU, GRUCell
from zoo.layers.lstm import LSTM, LSTMCell

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "compiled_loops", "portable_loops", "unrolled_loops"]
