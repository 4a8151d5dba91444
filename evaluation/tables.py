"""The rows of `results.csv` as the report reads them: one `TaskTable` per task (mean ± std over
seeds per cell, Welch's t-test), and the probe rows' longest solved T."""

import collections
import csv
import math

import numpy as np
from scipy import stats

from evaluation.grids import FORGET_BIAS_LABEL

SIGNIFICANCE = 0.05
CELL_ORDER = ["gru", "gru_matched", "gru_reset_before", "lstm", "rnn", "transformer", "cnn"]


# --------------------------------------------------------------- reading rows


def load_rows(path):
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        for key in ("value", "parameters", "seconds_per_epoch", "latency_ms", "step_latency_ms", "train_seconds"):
            row[key] = float(row[key]) if row.get(key) not in (None, "") else math.nan
        row["length"] = int(row["length"]) if row.get("length") else None
        row["higher_is_better"] = row.get("higher_is_better") == "True"
    return rows


def cell_sort_key(cell):
    """CELL_ORDER, each tuned cell (`<cell>_tuned`) after all the untuned ones, in the same order."""
    base, tuned = cell.removesuffix("_tuned"), cell.endswith("_tuned")
    return (tuned, CELL_ORDER.index(base) if base in CELL_ORDER else len(CELL_ORDER), base)


class TaskTable:
    """The task rows of one task, by cell."""

    def __init__(self, rows, task):
        self.task, self.family = task, None  # family: set when the task comes in several sizes
        self.rows = [r for r in rows if r["task"] == task and r["kind"] == "task"]
        self.baselines = [r for r in rows if r["task"] == task and r["kind"] == "baseline"]
        self.metric = self.rows[0]["metric"] if self.rows else self.baselines[0]["metric"]
        self.higher_is_better = (self.rows or self.baselines)[0]["higher_is_better"]
        self.by_cell = collections.defaultdict(list)
        for row in self.rows:
            self.by_cell[row["cell"]].append(row)

    def values(self, cell, key="value"):
        return np.array([r[key] for r in self.by_cell.get(cell, [])], float)

    def better(self, a, b):
        """Signed advantage of mean a over mean b in the metric's good direction."""
        return (a - b) if self.higher_is_better else (b - a)

    def against_baseline(self):
        """(the best baseline's row, the cells whose mean beats it), or None without baselines."""
        if not self.baselines:
            return None
        best = max(self.baselines, key=lambda row: row["value"] if self.higher_is_better else -row["value"])
        beating = [cell for cell in sorted(self.by_cell, key=cell_sort_key)
                   if self.better(self.values(cell).mean(), best["value"]) > 0]
        return best, beating

    def compare(self, cell_a, cell_b, key="value"):
        a, b = self.values(cell_a, key), self.values(cell_b, key)
        if len(a) == 0 or len(b) == 0:
            return None
        p = welch_p(a, b)
        return {"a": a, "b": b, "mean_a": a.mean(), "mean_b": b.mean(), "p": p}


def welch_p(a, b):
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if np.std(a) == 0 and np.std(b) == 0:
        return 1.0 if np.mean(a) == np.mean(b) else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def mean_std(values, digits=4):
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def lstm_forget_bias_cells(rows, probe):
    """The probe rows' LSTM cells with another forget-gate bias (`evaluation.grids.forget_bias_label`)."""
    return sorted({r["cell"] for r in rows if r["kind"] == "probe" and r["task"] == probe
                   and r["cell"].startswith(FORGET_BIAS_LABEL)})


def longest_solved(rows, probe, cell):
    """(longest T solved or 0, lengths tried) for a probe and cell."""
    tried = [r for r in rows if r["kind"] == "probe" and r["task"] == probe and r["cell"] == cell]
    solved = [r["length"] for r in tried if r["solved"] == "True"]
    return (max(solved) if solved else 0), sorted(r["length"] for r in tried)


