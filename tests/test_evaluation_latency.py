"""evaluation.latency: the one timer behind the task, whole-sequence and streaming-step latencies."""

import keras
import numpy as np
import tensorflow as tf

from evaluation.latency import forward_latency_ms, median_ms


def test_median_ms_calls_once_untimed_then_repeats_and_fetches_outputs():
    calls = []

    def call():
        calls.append(1)
        return {"a": tf.constant(1.0), "b": [tf.zeros(2)]}  # any structure of tensors

    assert median_ms(call, repeats=3) >= 0
    assert len(calls) == 4


def test_forward_latency_of_a_model_on_a_tensor_and_on_named_inputs():
    inputs = keras.Input((5,), name="x")
    outputs = keras.layers.Dense(2)(inputs)
    x = tf.constant(np.ones((1, 5), "float32"))
    assert forward_latency_ms(keras.Model(inputs, outputs), x, repeats=2) > 0
    assert forward_latency_ms(keras.Model({"x": inputs}, outputs), {"x": x}, repeats=2) > 0
