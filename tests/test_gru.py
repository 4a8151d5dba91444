"""zoo.GRU, both forms (reset after and reset before), against an independent NumPy reference."""

import numpy as np
import pytest

from tests.conftest import BATCH, FEATURES, TIME, sigmoid, twin_layers


def numpy_gru(x, kernel, recurrent_kernel, bias, reset_after):
    """The GRU equations, one step at a time, separate matrices per gate."""
    units = recurrent_kernel.shape[0]
    W_z, W_r, W_h = np.split(kernel, 3, axis=1)
    U_z, U_r, U_h = np.split(recurrent_kernel, 3, axis=1)
    if reset_after:
        (b_z, b_r, b_h), (c_z, c_r, c_h) = np.split(bias[0], 3), np.split(bias[1], 3)
    else:
        (b_z, b_r, b_h), (c_z, c_r, c_h) = np.split(bias, 3), (0, 0, 0)
    h = np.zeros((x.shape[0], units))
    outputs = []
    for x_t in x.transpose(1, 0, 2):
        z = sigmoid(x_t @ W_z + b_z + h @ U_z + c_z)
        r = sigmoid(x_t @ W_r + b_r + h @ U_r + c_r)
        if reset_after:
            candidate = np.tanh(x_t @ W_h + b_h + r * (h @ U_h + c_h))
        else:
            candidate = np.tanh(x_t @ W_h + b_h + (r * h) @ U_h)
        h = z * h + (1 - z) * candidate
        outputs.append(h)
    return np.stack(outputs, axis=1)


@pytest.mark.parametrize("config", ["gru", "gru_reset_before"])
@pytest.mark.parametrize("unroll", [False, True])
def test_layer_equals_numpy_equations(config, unroll, rng):
    ours, _ = twin_layers(config, rng, return_sequences=True, unroll=unroll)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    weights = [w.astype("float64") for w in ours.get_weights()]
    expected = numpy_gru(x, *weights, reset_after=ours.reset_after)
    np.testing.assert_allclose(ours(x), expected, atol=1e-5)
