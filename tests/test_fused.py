"""The whole-sequence recurrences of zoo.layers.fused: XLA and plain loops, per-gate matmuls."""

import pytest
import tensorflow as tf

import zoo
from tests.conftest import (
    BATCH, FEATURES, LAYER_CONFIGS, TIME, UNITS, assert_all_close, layer_classes, masks,
    outputs_and_gradients, twin_layers,
)
from zoo.layers import fused


def test_compiled_and_plain_loops_agree(rng):
    layer, _ = twin_layers("lstm", rng, return_sequences=True)
    x = tf.constant(rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32"))
    mask = tf.constant(masks()["right"])
    results = []
    for compiled in (True, False):
        with zoo.compiled_loops(compiled):
            results.append(outputs_and_gradients(layer, x, mask=mask))
    assert_all_close(results[0][0], results[1][0], atol=1e-6)
    assert_all_close(results[0][1], results[1][1], atol=1e-6)


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_per_gate_matmuls_give_the_same_results(config, rng):
    """The forward step's per-gate matmuls (used from 192 units on) change nothing."""
    gates = 4 if config == "lstm" else 3
    inputs = tf.constant(rng.normal(size=(TIME, BATCH, FEATURES)).astype("float32"))
    weights = [
        tf.constant(0.5 * rng.normal(size=shape).astype("float32"))
        for shape in [(FEATURES, gates * UNITS), (gates * UNITS,), (UNITS, gates * UNITS),
                      (gates * UNITS,), (BATCH, UNITS), (BATCH, UNITS)]
    ]
    kernel, bias, recurrent_kernel, recurrent_bias, h0, c0 = weights
    mask = tf.constant(masks()["left_and_empty"].T[..., None].astype("float32"))
    results = []
    for per_gate in (False, True):
        with tf.GradientTape() as tape:
            tape.watch(weights + [inputs])
            if config == "lstm":
                outputs = fused.lstm_sequence(
                    inputs, kernel, bias, recurrent_kernel, h0, c0, mask, per_gate_matmuls=per_gate
                )
            else:
                outputs = fused.gru_sequence(
                    inputs, kernel, bias, recurrent_kernel, recurrent_bias, h0, mask,
                    reset_after=config == "gru", per_gate_matmuls=per_gate,
                )
            loss = sum(tf.reduce_sum(tf.sin(o)) for o in outputs)
        gradients = tape.gradient(loss, weights + [inputs], unconnected_gradients="zero")
        results.append([o.numpy() for o in outputs] + [g.numpy() for g in gradients])
    assert_all_close(results[1], results[0], atol=1e-6)


@pytest.mark.parametrize("config", LAYER_CONFIGS)
def test_layer_with_per_gate_matmuls_equals_keras(config, rng):
    units = fused.PER_GATE_MATMULS_FROM_UNITS
    zoo_class, keras_class, extra = layer_classes(config)
    ours = zoo_class(units, return_sequences=True, **extra)
    theirs = keras_class(units, return_sequences=True, use_cudnn=False, **extra)
    x = rng.normal(size=(2, 3, FEATURES)).astype("float32")
    ours.build(x.shape)
    theirs.build(x.shape)
    weights = [0.2 * rng.normal(size=w.shape).astype("float32") for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    ours_results, theirs_results = outputs_and_gradients(ours, x), outputs_and_gradients(theirs, x)
    assert_all_close(ours_results[0], theirs_results[0])
    assert_all_close(ours_results[1], theirs_results[1])


@pytest.mark.parametrize("config", LAYER_CONFIGS)
@pytest.mark.parametrize("mask_name", ["right", "left_and_empty"])
def test_unrolled_loops_give_the_same_outputs_with_no_loop(config, mask_name, rng):
    """What zoo.edge traces for LiteRT and ONNX: the same outputs both ways round (a
    Bidirectional's backward layer zeroes its masked steps), and no while loop in the graph."""
    import keras

    layer, _ = twin_layers(config, rng, return_sequences=True)
    bidirectional = keras.layers.Bidirectional(layer)
    x = tf.constant(rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32"))
    mask = tf.constant(masks()[mask_name])
    looped = bidirectional(x, mask=mask)
    with zoo.layers.unrolled_loops():
        unrolled = tf.function(lambda x, mask: bidirectional(x, mask=mask)).get_concrete_function(
            tf.TensorSpec(x.shape), tf.TensorSpec(mask.shape, tf.bool))
    graph = unrolled.graph.as_graph_def()
    ops = {node.op for node in graph.node} | {node.op for f in graph.library.function for node in f.node_def}
    assert not ops & {"While", "StatelessWhile", "TensorListReserve"}
    assert_all_close([unrolled(x, mask)], [looped], atol=1e-6)


def test_unrolled_loops_need_a_known_length(rng):
    layer, _ = twin_layers("gru", rng, return_sequences=True)
    with zoo.layers.unrolled_loops(), pytest.raises(ValueError, match="number of time steps must be known"):
        tf.function(layer).get_concrete_function(tf.TensorSpec([BATCH, None, FEATURES]))
