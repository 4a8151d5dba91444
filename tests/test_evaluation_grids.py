"""evaluation.grids: every grid's task specs are valid overrides of their task's hyperparameter table."""

import pytest

from evaluation.grids import GRIDS, MEDIUM_TASKS, find_spec
from evaluation.runs import run_config


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_specs_resolve_with_the_tables_types(name, tmp_path):
    grid = GRIDS[name]
    assert {"gru", "lstm"} <= set(grid.cells)
    for spec in grid.tasks:
        task, config = run_config(spec, "gru", 0, str(tmp_path))  # raises on an unknown name or a wrong type
        for key, value in spec.overrides.items():
            if key in task.defaults:  # a folder under --data-dir is resolved there
                assert config[key] == (value.format(data_dir=tmp_path) if isinstance(value, str) else value)


def test_grids_share_the_medium_specs():
    assert GRIDS["full"].tasks[1:] == MEDIUM_TASKS and GRIDS["greff"].tasks == MEDIUM_TASKS[:1]
    assert find_spec("sentiment-imdb-5k") is MEDIUM_TASKS[0]
