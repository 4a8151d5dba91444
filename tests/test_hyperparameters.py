"""Hyperparameter tables: shared rows, checked overrides, generated flags."""

import argparse

import pytest

from zoo import hyperparameters
from zoo.hyperparameters import Hyperparameter, shared

TASK_DEFAULTS = dict(epochs=2, batch_size=8, learning_rate=0.01, units=4, num_layers=1, bidirectional=False,
                     dropout=0.0, patience=1)
TABLE = shared(**TASK_DEFAULTS) + [
    Hyperparameter("window", None, int, "values read", auto="4 x horizon"),
    Hyperparameter("loss", "mae", str, "the loss", choices=("mae", "smape")),
]


def test_shared_rows_take_the_tasks_defaults_and_require_the_rest():
    defaults = hyperparameters.defaults(TABLE)
    assert defaults["epochs"] == 2 and defaults["seed"] == 0 and defaults["cell"] == "gru"
    with pytest.raises(ValueError, match=r"a task must give defaults for \['epochs'\]"):
        shared(**{k: v for k, v in TASK_DEFAULTS.items() if k != "epochs"})
    with pytest.raises(ValueError, match=r"not shared hyperparameters: \['window'\]"):
        shared(window=3, **TASK_DEFAULTS)


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": 2.5}, r"--epochs 2.5: expected int"),
    ({"epochs": True}, r"--epochs True: expected int"),
    ({"bidirectional": "yes"}, r"--bidirectional 'yes': expected bool"),
    ({"loss": "mse"}, r"--loss 'mse': choose one of \['mae', 'smape'\]"),
    ({"windw": 3}, r"Unknown hyperparameter\(s\) \['windw'\] for toy; known: \["),
    ({"epochs": 0}, r"--epochs 0: must be > 0"),
    ({"learning_rate": -1.0}, r"--learning-rate -1.0: must be > 0"),
    ({"learning_rate": float("nan")}, r"--learning-rate nan: must be a finite number"),
    ({"dropout": 1.5}, r"--dropout 1.5: must be in \[0, 1\)"),
    ({"seed": -1}, r"--seed -1: must be >= 0"),
])
def test_bad_overrides_name_the_flag(overrides, message):
    with pytest.raises(ValueError, match=message):
        hyperparameters.resolve(TABLE, "toy", **overrides)


def test_none_overrides_keep_the_default_and_ints_are_floats_where_floats_are_expected():
    config = hyperparameters.resolve(TABLE, "toy", epochs=None, learning_rate=1, window=12)
    assert config["epochs"] == 2 and config["learning_rate"] == 1.0 and config["window"] == 12


def test_flags_default_to_none_and_their_help_ends_in_the_tables_default():
    parser = hyperparameters.add_arguments(argparse.ArgumentParser(), TABLE, "toy")
    assert all(value is None for value in vars(parser.parse_args([])).values())
    args = parser.parse_args(["--no-bidirectional", "--window", "12", "--loss", "smape"])
    assert (args.bidirectional, args.window, args.loss) == (False, 12, "smape")
    text = " ".join(parser.format_help().split())
    assert "values read (default: 4 x horizon)" in text
    assert "wrap each recurrent layer in Bidirectional (default: off)" in text
    assert "(default: 0.01)" in text


def test_key_value_assignments_take_the_tables_types():
    from zoo.hyperparameters import parse_assignment
    from zoo.task import get_task

    rows = get_task("sentiment").hyperparameters
    assert parse_assignment(rows, "units=32") == ("units", 32)
    assert parse_assignment(rows, "learning-rate=5e-3") == ("learning_rate", 0.005)
    assert parse_assignment(rows, "bidirectional=off") == ("bidirectional", False)
    with pytest.raises(ValueError, match=r"--set unit=32: give KEY=VALUE with KEY one of \["):
        parse_assignment(rows, "unit=32")
    with pytest.raises(ValueError, match=r"--set units=many: units takes an integer, not 'many'"):
        parse_assignment(rows, "units=many")
    with pytest.raises(ValueError, match=r"--set bidirectional=maybe: bidirectional is on or off"):
        parse_assignment(rows, "bidirectional=maybe")
