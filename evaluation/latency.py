"""The one latency timer: median milliseconds of a call after one untimed (tracing) call."""

import time

import numpy as np
import tensorflow as tf


def median_ms(call, repeats):
    """Median ms of `call()` over `repeats` calls, its outputs fetched (`.numpy()`) inside the timing."""
    call()  # trace
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.nest.map_structure(lambda tensor: tensor.numpy(), call())
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def forward_latency_ms(model, inputs, repeats):
    """Median ms of one inference forward pass of `model` over `inputs` (a tensor or a dict of them)."""
    forward = tf.function(lambda x: model(x, training=False))
    return median_ms(lambda: forward(inputs), repeats)
