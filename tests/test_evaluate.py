"""evaluate.py on its smoke grid: rows and columns, resuming, reusing, the report's verdicts."""

import csv
import json
import re

import pytest

import evaluate
from evaluation.grids import GRIDS
from evaluation.runs import COLUMNS
from evaluation.verdicts import CLAIMS
from tests.conftest import REPO


def read(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_smoke_grid_writes_rows_resumes_and_reports(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the working tree (no saved_models/)
    evaluate.main(["--grid", "smoke", "--output-dir", str(tmp_path)])
    results = tmp_path / "smoke" / "results.csv"
    rows = read(results)
    assert list(rows[0]) == COLUMNS
    runs = {row["run"] for row in rows}
    grid = GRIDS["smoke"]
    for cell in [*grid.cells, "gru_matched"]:
        for seed in grid.seeds:
            assert f"forecasting-tiny/{cell}/{seed}" in runs
    assert {"forecasting-tiny/snaive", "forecasting-tiny/naive2", "adding/gru/T10", "copy/lstm/T10",
            "gradients/gru", "latency/lstm/T40"} <= runs
    tasks = [row for row in rows if row["kind"] == "task"]
    for row in tasks:
        assert row["metric"] == "owa" and float(row["value"]) > 0
        assert int(row["parameters"]) > 0 and float(row["latency_ms"]) > 0 and int(row["epochs_trained"]) >= 1
    parameters = {row["cell"]: int(row["parameters"]) for row in tasks}
    assert parameters["gru"] < parameters["lstm"]
    assert abs(parameters["gru_matched"] - parameters["lstm"]) <= abs(parameters["gru"] - parameters["lstm"])
    naive2 = next(row for row in rows if row["run"] == "forecasting-tiny/naive2")
    assert float(naive2["value"]) == 1.0  # OWA is relative to Naive2
    assert not (tmp_path / "saved_models").exists()  # harness runs skip the export
    assert all((tmp_path / "smoke" / name).exists() for name in ("learning_curves.png", "gradient_norms.png"))

    capsys.readouterr()
    evaluate.main(["--grid", "smoke", "--output-dir", str(tmp_path)])
    assert f"{len(rows)} already in" in capsys.readouterr().out
    assert read(results) == rows  # nothing rerun, nothing appended

    # Another results folder of the same grid takes these runs over instead of training them.
    evaluate.main(["--grid", "smoke", "--output-dir", str(tmp_path), "--name", "again",
                   "--reuse", str(tmp_path / "smoke")])
    out = capsys.readouterr().out
    assert f"{len(rows)} finished runs reused" in out
    assert read(tmp_path / "again" / "results.csv") == rows
    assert (tmp_path / "again" / "gradient_norms.json").read_text() == (tmp_path / "smoke" / "gradient_norms.json").read_text()

    report = (tmp_path / "smoke" / "report.md").read_text()
    for claim, _ in CLAIMS:
        line = next(line for line in report.splitlines() if line.startswith(f"- **{claim}: "))
        assert any(f": {verdict} on this grid.**" in line for verdict in ("supported", "not supported", "inconclusive"))
    assert "| gru_matched vs lstm |" in report


def test_report_only_rewrites_the_committed_report(tmp_path):
    """`--report-only` on the committed full grid's results gives its report.md back, bar the command line."""
    committed = REPO / "results" / "full"
    (tmp_path / "full").mkdir()
    for name in ("results.csv", "gradient_norms.json"):
        (tmp_path / "full" / name).write_bytes((committed / name).read_bytes())
    evaluate.main(["--grid", "full", "--report-only", "--output-dir", str(tmp_path)])
    written = (tmp_path / "full" / "report.md").read_text().split("\n")
    expected = (committed / "report.md").read_text().split("\n")
    assert written[2].startswith(f"Command: `python evaluate.py --grid full --report-only --output-dir {tmp_path}`. ")
    assert written[:2] + written[3:] == expected[:2] + expected[3:]


def test_reuse_without_results_exits_with_the_reason(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(SystemExit) as error:
        evaluate.main(["--grid", "smoke", "--output-dir", str(tmp_path), "--reuse", str(missing)])
    assert str(error.value) == f"evaluate.py: --reuse {missing}: no results.csv there"


def test_task_on_your_own_csv_compares_the_cells_beside_the_baseline(tmp_path, capsys):
    from tasks.sentiment.synthetic import synthetic_corpus

    train, test = synthetic_corpus(200, 100, 0)
    for name, examples in (("train.csv", train), ("test.csv", test)):
        with open(tmp_path / name, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["text", "label"])
            writer.writerows((text, label) for text, label, *_ in examples)
    evaluate.main(["--task", "sentiment", "--data", "csv", "--data-dir", str(tmp_path), "--cells", "gru,lstm",
                   "--seeds", "1", "--epochs", "1", "--output-dir", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert "grid sentiment-csv: 4 runs" in out and "[4/4] sentiment-csv/tfidf_logreg" in out and "min left" in out
    report = (tmp_path / "results" / "sentiment-csv" / "report.md").read_text()
    assert "### sentiment-csv (`test_accuracy`, higher is better)" in report
    assert all(f"| {cell} | 1 | " in report for cell in ("gru", "lstm", "gru_matched"))
    assert "Beside the best baseline (tfidf_logreg, " in report


@pytest.mark.parametrize("args, message", [
    (["--task", "sentiment", "--data", "csv"], "evaluate.py: --task compares cells on your data: give --data and "
                                               "--data-dir too."),
    (["--task", "sentiment", "--data", "csv", "--data-dir", ".", "--cells", "gru,attention"],
     "evaluate.py: --cells: attention is not a cell; choose from"),
    (["--task", "sentiment", "--data", "csv", "--data-dir", ".", "--seeds", "0"], "evaluate.py: --seeds 0: give at "
                                                                                  "least 1."),
    (["--task", "speech", "--data", "csv", "--data-dir", "."], "evaluate.py: --task speech: choose one of"),
    (["--task", "sentiment", "--data", "csv", "--data-dir", ".", "--cells", "gru,lstm,gru"],
     "evaluate.py: --cells gru,lstm,gru: gru given more than once; give each cell once."),
])
def test_a_wrong_comparison_on_your_data_is_refused_before_any_training(args, message, tmp_path):
    with pytest.raises(SystemExit) as error:
        evaluate.main(args + ["--output-dir", str(tmp_path)])
    assert str(error.value).startswith(message)
    assert not any(tmp_path.iterdir())


def write_review_csvs(folder, train_size=200, test_size=100):
    from tasks.sentiment.synthetic import synthetic_corpus

    train, test = synthetic_corpus(train_size, test_size, 0)
    for name, examples in (("train.csv", train), ("test.csv", test)):
        with open(folder / name, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["text", "label"])
            writer.writerows((text, label) for text, label, *_ in examples)


def test_trials_tune_each_cell_equally_and_the_report_weighs_tuning_against_the_cell(tmp_path, capsys):
    write_review_csvs(tmp_path)
    command = ["--task", "sentiment", "--data", "csv", "--data-dir", str(tmp_path), "--cells", "gru,lstm",
               "--seeds", "1", "--epochs", "1", "--set", "units=8", "--set", "sequence_length=40", "--trials", "3",
               "--sampler", "random", "--output-dir", str(tmp_path / "results")]
    evaluate.main(command)
    out = capsys.readouterr().out
    assert "[trial 6/6] lstm #2: val_loss=" in out and "min left" in out
    results = tmp_path / "results" / "sentiment-csv"
    trials = list(csv.DictReader(open(results / "tuning.csv")))
    assert [row["cell"] for row in trials] == ["gru"] * 3 + ["lstm"] * 3
    assert all(8 <= int(row["units"]) <= 16 and 1 <= int(row["num_layers"]) <= 3 for row in trials)
    # Random search draws three configurations, the same three for each cell (paired budgets).
    draws = [[(row["learning_rate"], row["units"]) for row in trials if row["cell"] == cell] for cell in ("gru", "lstm")]
    assert len(set(draws[0])) == 3 and draws[0] == draws[1]
    rows = list(csv.DictReader(open(results / "results.csv")))
    tuned = [row for row in rows if row["cell"].endswith("_tuned")]
    assert [row["cell"] for row in tuned] == ["gru_tuned", "lstm_tuned"]
    best_gru = min((row for row in trials if row["cell"] == "gru"), key=lambda row: float(row["validation"]))
    assert json.loads(tuned[0]["extra"])["tuned"]["units"] == int(best_gru["units"])
    importance = json.loads((results / "importance.json").read_text())
    assert set(importance["all"]) == {"cell", "learning_rate", "units", "num_layers", "dropout", "batch_size",
                                      "clipnorm"}
    assert abs(sum(importance["all"].values()) - 1) < 1e-6
    report = (results / "report.md").read_text()
    assert "**Hyperparameter tuning matters more than the choice of cell: " in report
    assert "## Tuning (equal trials per cell)" in report and "| gru_tuned | 1 | " in report
    # A rerun continues the studies in the same storage: no trial past N.
    evaluate.main(command)
    assert "sentiment-csv-gru: 3 trials already in sqlite:///" in capsys.readouterr().out
    assert len(list(csv.DictReader(open(results / "tuning.csv")))) == 6


@pytest.mark.parametrize("arguments, message", [
    (["--trials", "0"], "evaluate.py: --trials 0: give at least 1 (the trials each cell gets)."),
    (["--trials", "2", "--sampler", "grid"], "evaluate.py: --sampler grid: choose one of ['tpe', 'random']."),
])
def test_bad_tuning_settings_are_refused_before_training(arguments, message, tmp_path):
    with pytest.raises(SystemExit) as error:
        evaluate.main(["--task", "sentiment", "--data", "csv", "--data-dir", str(tmp_path), *arguments,
                       "--output-dir", str(tmp_path / "results")])
    assert str(error.value) == message and not (tmp_path / "results").exists()
    with pytest.raises(SystemExit, match="--trials tunes the cells on your data: give --task"):
        evaluate.main(["--trials", "2"])


@pytest.mark.parametrize("minutes", ["0", "-2"])
def test_a_budget_that_is_not_positive_is_refused_before_training(minutes, tmp_path):
    with pytest.raises(SystemExit) as error:
        evaluate.main(["--task", "sentiment", "--data", "csv", "--data-dir", str(tmp_path), "--budget-minutes", minutes,
                       "--output-dir", str(tmp_path / "results")])
    assert str(error.value) == f"evaluate.py: --budget-minutes {float(minutes):g}: give a positive number of minutes."
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("args, message", [
    (["--cells", "gru,lstm", "--seeds", "2"], "evaluate.py: --cells, --seeds compare(s) cells on your data and "
                                              "need(s) --task"),  # was: ignored, then the full grid's data
    (["--quick", "--set", "units=8"], "evaluate.py: --set compare(s) cells on your data and need(s) --task"),
])
def test_comparison_flags_without_a_task_are_refused(args, message, tmp_path):
    with pytest.raises(SystemExit, match=re.escape(message)):
        evaluate.main(args + ["--output-dir", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_report_only_without_results_says_to_run_the_grid_first(tmp_path):
    with pytest.raises(SystemExit, match=r"evaluate.py: --report-only: no .*quick/results.csv yet; run the grid "
                                         r"first"):
        evaluate.main(["--quick", "--report-only", "--output-dir", str(tmp_path)])

