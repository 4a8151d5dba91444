"""evaluation.probes: the adding and copy problems, probe models, gradient norms, the streaming step time."""

import numpy as np
import pytest

from evaluation import probes


def test_adding_problem_targets_are_the_sum_of_the_two_marked_values(rng):
    inputs, targets = probes.adding_problem(5, 10, rng)
    assert inputs.shape == (5, 10, 2) and targets.shape == (5, 1) and inputs.dtype == np.float32
    markers = inputs[..., 1]
    assert (markers.sum(axis=1) == 2).all()
    assert (markers[:, :5].sum(axis=1) == 1).all()  # one marker in each half
    np.testing.assert_allclose(targets[:, 0], (inputs[..., 0] * markers).sum(axis=1), rtol=1e-6)


def test_copy_memory_layout(rng):
    inputs, targets = probes.copy_memory(4, 6, rng, copied=3)
    assert inputs.shape == targets.shape == (4, 12)
    np.testing.assert_array_equal(targets[:, -3:], inputs[:, :3])
    assert (inputs[:, 3 + 6 - 1] == probes.COPY_SYMBOLS + 1).all()  # the delimiter
    assert (targets[:, :-3] == 0).all()
    with pytest.raises(ValueError, match=r"Unknown probe 'sort'; choose one of \['adding', 'copy'\]\."):
        probes.probe_data("sort", 1, 5, rng)


@pytest.mark.parametrize("probe", probes.PROBES)
def test_gradient_norms_and_step_latency_of_a_probe_model(probe, rng):
    model = probes.probe_model(probe, "gru", 4)
    inputs, targets = probes.probe_data(probe, 3, 6, rng, copied=2)
    norms = probes.hidden_gradient_norms(model, probe, inputs, targets)
    length = inputs.shape[1]
    assert norms.shape == (length,) and (norms >= 0).all() and norms[-1] > 0
    milliseconds, state_bytes = probes.step_latency_ms(model, repeats=2)
    assert milliseconds > 0 and state_bytes == 4 * 4  # one float32 state of 4 units


def test_train_probe_reports_its_score():
    model, result = probes.train_probe("adding", "gru", 6, 0, 3, batch_size=8, units=4, test_examples=16)
    assert set(result) == {"score", "solved", "steps_to_solve", "final_train_loss", "parameters", "train_seconds"}
    assert result["parameters"] == model.count_params() and result["score"] > 0


def test_train_probe_stops_when_solved_and_reports_the_step():
    """Copy memory over 3 steps of 1 symbol: solved well inside the budget, the step recorded."""
    model, result = probes.train_probe("copy", "gru", 3, 0, 400, batch_size=32, units=16, copied=1,
                                       test_examples=128)
    assert result["solved"] and result["steps_to_solve"] is not None
    assert result["steps_to_solve"] % 20 == 0 and result["steps_to_solve"] < 400


def test_an_encoder_streams_with_a_cache_that_grows():
    model = probes.probe_model("adding", "transformer", 16)  # one layer, one head of 16
    (_, early), (_, late) = probes.step_latency_ms(model, 9, repeats=2), probes.step_latency_ms(model, 99, repeats=2)
    assert (early, late) == (2 * 9 * 16 * 4, 2 * 99 * 16 * 4)  # keys and values, float32
    lstm = probes.probe_model("adding", "lstm", 16)
    assert probes.step_latency_ms(lstm, 9, repeats=2)[1] == probes.step_latency_ms(lstm, 99, repeats=2)[1] == 2 * 16 * 4


def test_an_lstm_probe_with_another_forget_gate_bias():
    model = probes.probe_model("adding", "lstm", 4, forget_bias=5.0)
    bias = np.asarray(model.get_layer("recurrent").cell.bias)
    np.testing.assert_array_equal(bias, [0] * 4 + [5] * 4 + [0] * 8)  # [i, f, c, o]
    with pytest.raises(ValueError, match="forget_bias is an LSTM setting; cell 'gru'"):
        probes.probe_model("adding", "gru", 4, forget_bias=5.0)
