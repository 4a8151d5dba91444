"""`zoo serve` under a small soak (benchmarks/soak.py, the 10,000-request one scaled down):
mixed valid and invalid requests to every task at once, a version dropped in midway."""

import pytest

from benchmarks.soak import soak


@pytest.mark.parametrize("batching", [False, True], ids=["plain", "batching"])
def test_a_soak_gets_no_5xx_and_only_right_answers(tiny_exports, tmp_path, batching):
    base = next(iter(tiny_exports.values())).path.parent.parent
    models = [export.path.parent.name for export in tiny_exports.values()]
    result, passed = soak(base, models, requests=240, concurrency=8, seed=1, batching=batching, work_dir=tmp_path)
    assert result["server_errors_or_failed_connections"] == 0, result
    assert result["wrong_answers_or_statuses"] == {}, result
    assert {"200", "400", "404", "413"} <= set(result["statuses"]), result  # each kind was sent
    assert all(states.get("2") == "AVAILABLE" for states in result["versions_at_end"].values()), result
    assert passed and result["requests"] == 240
