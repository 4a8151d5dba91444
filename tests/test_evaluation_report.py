"""evaluation.report: the version line, verdicts on constructed rows."""

import importlib.metadata

from evaluation.report import TaskTable, library_versions, mean_std, verdict_alike


def test_library_versions_come_from_the_installed_packages():
    assert library_versions() == {
        "TensorFlow": importlib.metadata.version("tensorflow"), "Keras": importlib.metadata.version("keras"),
    }


def task_row(cell, value):
    return {"kind": "task", "task": "t", "cell": cell, "metric": "test_accuracy", "value": value,
            "higher_is_better": True}


def test_mean_std_and_alike_verdict_on_constructed_rows():
    assert mean_std([0.5, 0.7]) == "0.6000 ± 0.1414"
    assert mean_std([0.5]) == "0.5000" and mean_std([]) == "–"
    rows = [task_row("gru", v) for v in (0.80, 0.81, 0.82)] + [task_row("lstm", v) for v in (0.81, 0.80, 0.83)]
    verdict, text = verdict_alike([TaskTable(rows, "t")])
    assert verdict == "supported"
    assert "no significant difference (p ≥ 0.05) on 1 of 1 tasks" in text
    rows = [task_row("gru", v) for v in (0.60, 0.61, 0.62)] + [task_row("lstm", v) for v in (0.90, 0.91, 0.92)]
    assert verdict_alike([TaskTable(rows, "t")])[0] == "not supported"
