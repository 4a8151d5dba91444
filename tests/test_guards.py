"""Checks inside exported signatures: the row named, one readable line, and the bad rows every export refuses."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import start_rest_server
from zoo.guards import check_rows, readable


def test_check_rows_names_the_first_failing_row_in_one_line():
    @tf.function
    def positive(values):
        return check_rows(values, values > 0, "Input 'x' row {} is not positive.") * 2

    np.testing.assert_array_equal(positive(tf.constant([1.0, 2.0])), [2.0, 4.0])
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        positive(tf.constant([1.0, -2.0, -3.0]))
    assert readable(caught.value.message) == "Input 'x' row 1 is not positive."
    assert readable("Graph execution error:\n\nDetected at node x\nIncompatible shapes: [2] vs. [3]") == (
        "Incompatible shapes: [2] vs. [3]")
    assert readable("{{function_node __wrapped__RestoreV2_dtypes_8_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
                    "TensorBundle at m/1/variables: Checksum does not match [Op:RestoreV2]") == (
        "TensorBundle at m/1/variables: Checksum does not match")


def test_an_assert_equal_message_comes_without_its_operands():
    """The speech step's chunk-size check (tf.debugging.assert_equal, in the shipped models' graphs)."""
    @tf.function
    def step(audio):
        tf.debugging.assert_equal(tf.shape(audio)[1] % 320, 0, message="step: audio chunks must hold a multiple "
                                  "of 320 samples (40 ms at 8000 Hz)")
        return audio

    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        step(tf.zeros([1, 100]))
    assert readable(caught.value.message) == "step: audio chunks must hold a multiple of 320 samples (40 ms at 8000 Hz)"


def nonsense(export):
    """(inputs, message) pairs each task's export must refuse, from its warm-up examples."""
    examples = {name: np.array(values) for name, values in export.examples.items()}
    if export.task_name == "forecasting":
        history = examples["history"]
        all_missing = history.copy()
        all_missing[1] = np.nan
        return [
            ({"history": all_missing}, "Input 'history' row 1 has no value (all NaN or empty); send at least one."),
            ({"history": np.zeros((2, 0), "float32")}, "Input 'history' row 0 has no value"),
            ({"history": np.where(np.isnan(history), np.nan, 1e38).astype("float32")},
             "Input 'history' row 0 gives a forecast beyond float32's range"),
            ({"history": np.array([[1.0, np.inf]], "float32")}, "Input 'history' row 0 holds an infinite value"),
        ]
    waveform, length = examples["waveform"], examples["length"]
    noisy = waveform.copy()
    noisy[2, 5] = np.nan
    return [
        ({"waveform": waveform, "length": length[:2]}, "Input 'length' has 2 values and 'waveform' 4 rows"),
        ({"waveform": waveform, "length": np.array([5, -1, 3, 4], "int32")}, "Input 'length' row 1 is negative."),
        ({"waveform": noisy, "length": length}, "Input 'waveform' row 2 holds NaN or an infinite value."),
    ]


@pytest.mark.parametrize("task_name", ["forecasting", "ctc_speech"])
def test_exports_refuse_nonsense_naming_the_row_in_zoo_load_and_zoo_serve(tiny_exports, task_name):
    export = tiny_exports[task_name]
    model = zoo.load(export.path)
    client, _, stop = start_rest_server(export.path.parent.parent)
    try:
        for inputs, message in nonsense(export):
            with pytest.raises(ValueError) as caught:
                model(inputs)
            assert str(caught.value).startswith(message)
            columnar = {name: values.tolist() for name, values in inputs.items()}  # NaN as JSON's NaN literal
            status, body = client.predict(f"/v1/models/{export.path.parent.name}", {"inputs": columnar})
            assert status == 400 and body["error"].startswith(message), body
    finally:
        stop()
