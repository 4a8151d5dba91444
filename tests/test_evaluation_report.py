"""evaluation.report, .tables and .verdicts: the version line, tables and verdicts on constructed rows."""

import importlib.metadata
import json

from evaluation.grids import GRIDS, SPEAKER_FOLDS
from evaluation.report import fold_sections, latency_section, library_versions
from evaluation.tables import TaskTable, mean_std
from evaluation.verdicts import verdict_alike, verdict_long_streaming, verdict_longer_and_larger


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


def latency_row(cell, length, sequence_ms, step_ms, state):
    return {"kind": "latency", "task": "sequence", "cell": cell, "length": length, "value": sequence_ms,
            "step_latency_ms": step_ms, "extra": json.dumps({"state_bytes": state})}


def small_data_tables(transformer_accuracy):
    rows = [{**task_row(cell, v), "task": f"s-{size}"} for size in (2, 6) for cell, v in
            (("gru", 0.80), ("gru", 0.82), ("lstm", 0.79), ("lstm", 0.80))]
    rows += [{**task_row("transformer", v), "task": "s-2"} for v in transformer_accuracy]
    tables = [TaskTable(rows, "s-2"), TaskTable(rows, "s-6")]
    for table, size in zip(tables, (2000, 6000)):
        table.family = "s"
        for row in table.rows:
            row["train_size"] = size
    return tables


def test_long_streaming_verdict_weighs_step_cost_state_whole_sequences_and_small_data():
    rows = [latency_row(cell, t, t * scale, step, state) for cell, scale, step_at, state_at in (
        ("gru", 0.01, lambda t: 0.1, lambda t: 128), ("lstm", 0.012, lambda t: 0.1, lambda t: 256),
        ("transformer", 0.01, lambda t: 0.1 + t / 1000, lambda t: 256 * t)) for t in (50, 1000)
        for step, state in [(step_at(t), state_at(t))]]
    verdict, text = verdict_long_streaming(rows, small_data_tables([0.60, 0.62, 0.61]))
    assert verdict == "supported"
    assert text.startswith("streaming supported, whole long sequences supported, small data supported.")
    assert "transformer: streamed step 0.150 ms at T=50, 1.100 ms at T=1000, state 250.0 KiB per stream" in text
    assert "s at 2,000 examples: gru − transformer test_accuracy +0.2000" in text
    assert verdict_long_streaming(rows, small_data_tables([0.90, 0.91, 0.92]))[0] == "not supported"
    assert verdict_long_streaming(rows, [])[0] == "inconclusive"  # no small-data comparison
    slow = [{**r, "value": r["value"] * 2} if r["cell"] == "gru" or r["cell"] == "lstm" else r for r in rows]
    assert "whole long sequences not supported" in verdict_long_streaming(slow, [])[1]
    without_rivals = [r for r in rows if r["cell"] != "transformer"]
    assert "no Transformer measured" in verdict_long_streaming(without_rivals, [])[1]
    table = "\n".join(latency_section(rows))
    assert "| transformer | 0.5 | 10.0 | 0.150 | 1.100 | 12.5 | 250.0 |" in table


def probe_row(cell, length, solved):
    return {"kind": "probe", "task": "adding", "cell": cell, "length": length, "solved": str(solved)}


def test_the_lstm_verdict_counts_its_larger_forget_gate_bias():
    rows = [probe_row("gru", 200, True), probe_row("lstm", 100, True), probe_row("lstm", 200, False),
            probe_row("lstm_forget_bias_5", 200, True), probe_row("lstm_forget_bias_5", 1000, True)]
    verdict, text = verdict_longer_and_larger(rows, [])
    assert "adding: longest T solved GRU 200, LSTM 1000; LSTM with forget-gate bias 5 1000" in text
    assert verdict_longer_and_larger(rows[:3], [])[1].startswith("longer dependencies not supported")


def test_speaker_folds_are_reported_per_fold_and_averaged_over_folds():
    specs = {spec.name: spec for spec in GRIDS["speakers"].tasks}
    assert [spec.name for spec in SPEAKER_FOLDS][:2] == ["ctc-speech-commands-0", "ctc-speech-commands-1"]
    rows = [{"kind": "task", "task": f"ctc-fsdd-loso-{speaker}", "cell": cell, "metric": "cer", "value": value + seed / 100,
             "higher_is_better": False}
            for speaker, value in (("george", 0.2), ("jackson", 0.1), ("nicolas", 0.3), ("theo", 0.2))
            for cell in ("gru", "lstm") for seed in (0, 2)]
    rows = [row for row in rows if not (row["cell"] == "lstm" and row["task"].endswith("theo"))]  # a fold to come
    tables = [TaskTable(rows, f"ctc-fsdd-loso-{speaker}") for speaker in ("george", "jackson", "nicolas", "theo")]
    text = "\n".join(fold_sections(tables, specs))
    assert "### ctc-fsdd-loso (`cer`, lower is better)" in text
    assert "| cell | george | jackson | nicolas | theo | mean over folds | seeds |" in text
    assert "| gru | 0.2100 | 0.1100 | 0.3100 | 0.2100 | 0.2100 ± 0.0816 (4 of 4 folds) | 2 |" in text
    assert "| lstm | 0.2100 | 0.1100 | 0.3100 | – | 0.2100 ± 0.1000 (3 of 4 folds) | 2 |" in text
    assert fold_sections([TaskTable([task_row("gru", 0.8)], "t")], specs) == []
