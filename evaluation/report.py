"""The evaluation report: `results/<name>/report.md` and its PNGs from `results.csv`.

Tables of mean ± std over seeds, Welch's t-test between GRU and LSTM, the probes,
and one verdict line per folklore claim, each with the numbers behind it and
"supported", "not supported" or "inconclusive on this grid".
"""

import collections
import csv
import importlib.metadata
import json
import math
import os
import pathlib
import platform
import time

import numpy as np
from scipy import stats

from evaluation.grids import FORGET_BIAS_LABEL
from zoo.cards import markdown_table

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


# ------------------------------------------------------------------ verdicts


def verdict_alike(tables):
    tested = [(t, t.compare("gru", "lstm")) for t in tables]
    tested = [(t, c) for t, c in tested if c]
    if not tested or any(math.isnan(c["p"]) for _, c in tested):
        return "inconclusive", "needs GRU and LSTM runs with at least 2 seeds on each task"
    alike = [(t, c) for t, c in tested if c["p"] >= SIGNIFICANCE]
    details = "; ".join(
        f"{t.task} {t.metric} GRU {mean_std(c['a'])} vs LSTM {mean_std(c['b'])} (Welch p={c['p']:.2f})"
        for t, c in tested
    )
    verdict = "supported" if 2 * len(alike) >= len(tested) else "not supported"
    return verdict, f"no significant difference (p ≥ {SIGNIFICANCE}) on {len(alike)} of {len(tested)} tasks: {details}"


def convergence(table, cell):
    """(seeds that reached the task's target, seeds, mean epochs to it or None)."""
    cell_rows = table.by_cell.get(cell, [])
    epochs = [int(r["epochs_to_target"]) for r in cell_rows if r["epochs_to_target"] not in ("", None)]
    return len(epochs), len(cell_rows), (float(np.mean(epochs)) if epochs else None)


def converges_sooner(table):
    """+1 when GRU reaches the target on more seeds (or as many, in fewer epochs), -1 for LSTM, 0 alike."""
    (gru_reached, _, gru_epochs), (lstm_reached, _, lstm_epochs) = convergence(table, "gru"), convergence(table, "lstm")
    if gru_reached != lstm_reached:
        return int(np.sign(gru_reached - lstm_reached))
    if gru_epochs is None or gru_epochs == lstm_epochs:
        return 0
    return 1 if gru_epochs < lstm_epochs else -1


def verdict_fewer_faster(tables):
    parts, fewer, faster, significant, n = [], 0, 0, 0, 0
    sooner = collections.Counter()
    for table in tables:
        params = table.compare("gru", "lstm", "parameters")
        speed = table.compare("gru", "lstm", "seconds_per_epoch")
        if not params or not speed:
            continue
        n += 1
        fewer += params["mean_a"] < params["mean_b"]
        faster += speed["mean_a"] < speed["mean_b"]
        significant += speed["mean_a"] < speed["mean_b"] and speed["p"] < SIGNIFICANCE
        sooner[converges_sooner(table)] += 1
        reached = [convergence(table, cell) for cell in ("gru", "lstm")]
        parts.append(
            f"{table.task}: {params['mean_a']:,.0f} vs {params['mean_b']:,.0f} parameters "
            f"({params['mean_a'] / params['mean_b']:.2f}x), {speed['mean_a']:.2f} vs {speed['mean_b']:.2f} s/epoch "
            f"({speed['mean_a'] / speed['mean_b']:.2f}x, p={speed['p']:.2f}), target reached "
            + " vs ".join(
                f"{done}/{seeds}" + (f" in {epochs:.1f} epochs" if epochs is not None else "")
                for done, seeds, epochs in reached
            )
        )
    if not n:
        return "inconclusive", "no task has both GRU and LSTM runs"
    per_epoch = 2 * faster > n and 2 * significant >= n
    if fewer < n or (2 * faster < n and sooner[1] <= sooner[-1]):
        verdict = "not supported"
    elif per_epoch or (sooner[1] > sooner[-1] and 2 * sooner[1] >= n):
        verdict = "supported"
    else:  # fewer parameters, but the time and convergence differences are within the noise or split
        verdict = "inconclusive"
    return verdict, (
        f"GRU has fewer parameters on {fewer} of {n} tasks and a shorter epoch (mean) on {faster} of {n}, "
        f"{significant} with p < {SIGNIFICANCE} (same units; epoch times include the first epoch's tracing); "
        f"it reaches the task's target on more seeds or in fewer epochs on {sooner[1]} of {n}, "
        f"the LSTM on {sooner[-1]}: " + "; ".join(parts)
    )


def task_families(tables):
    """{family: [(training-set size, table), ...] smallest first} of the tasks that come in several sizes."""
    families = collections.defaultdict(list)
    for table in tables:
        size = table.rows[0].get("train_size") if table.rows else None
        if table.family and size:
            families[table.family].append((int(size), table))
    return {family: sorted(members, key=lambda m: m[0]) for family, members in families.items()}


def verdict_longer_and_larger(rows, tables):
    probe_parts, probe_votes = [], []
    for probe in ("adding", "copy"):
        gru, tried = longest_solved(rows, probe, "gru")
        lstm, _ = longest_solved(rows, probe, "lstm")
        if not tried:
            continue
        # Before concluding the LSTM fails: its runs with a larger forget-gate bias, if any.
        biased = {cell: longest_solved(rows, probe, cell)[0] for cell in lstm_forget_bias_cells(rows, probe)}
        retried = "".join(f"; {cell.replace(FORGET_BIAS_LABEL, 'LSTM with forget-gate bias ')} "
                          f"{solved or 'none'}" for cell, solved in biased.items())
        lstm = max([lstm, *biased.values()])
        probe_parts.append(f"{probe}: longest T solved GRU {gru or 'none'}, LSTM {lstm or 'none'}{retried} "
                           f"(tried {tried})")
        if gru or lstm:
            probe_votes.append(np.sign(lstm - gru))
    if not probe_votes:
        longer = "inconclusive"
    elif any(v > 0 for v in probe_votes) and not any(v < 0 for v in probe_votes):
        longer = "supported"
    elif any(v > 0 for v in probe_votes):
        longer = "inconclusive"
    else:
        longer = "not supported"

    size_parts, size_votes = [], []
    for family, members in task_families(tables).items():
        if len(members) < 2:
            continue
        gaps = []
        for size, table in (members[0], members[-1]):
            comparison = table.compare("lstm", "gru")
            if comparison:
                gaps.append((size, table.better(comparison["mean_a"], comparison["mean_b"]), comparison["p"]))
        if len(gaps) == 2:
            (small, gap_small, _), (large, gap_large, p_large) = gaps
            size_parts.append(
                f"{family}: LSTM − GRU {members[0][1].metric} {gap_small:+.4f} at {small:,} training examples, "
                f"{gap_large:+.4f} at {large:,} (p={p_large:.2f} at the larger)"
            )
            if gap_large <= gap_small or gap_large <= 0:
                size_votes.append("not supported")
            else:  # the gap grew; a significant LSTM lead at the larger size is needed to call it
                size_votes.append("supported" if p_large < SIGNIFICANCE else "inconclusive")
    if not size_votes or "inconclusive" in size_votes and "not supported" not in size_votes:
        larger = "inconclusive"
    else:
        larger = "supported" if all(v == "supported" for v in size_votes) else "not supported"
    if "not supported" in (longer, larger):
        verdict = "not supported"
    elif longer == larger == "supported":
        verdict = "supported"
    else:
        verdict = "inconclusive"
    text = (
        f"longer dependencies {longer} ({'; '.join(probe_parts) or 'no probes'}); "
        f"gains on larger data {larger} ({'; '.join(size_parts) or 'no task at two training-set sizes'})"
    )
    return verdict, text


def verdict_beat_rnn(rows, tables):
    parts, wins, significant, n = [], 0, 0, 0
    for table in tables:
        for cell in ("gru", "lstm"):
            comparison = table.compare(cell, "rnn")
            if not comparison:
                continue
            n += 1
            won = table.better(comparison["mean_a"], comparison["mean_b"]) > 0
            wins += won
            significant += won and comparison["p"] < SIGNIFICANCE
            parts.append(
                f"{table.task} {cell.upper()} {comparison['mean_a']:.4f} vs RNN {comparison['mean_b']:.4f} "
                f"(p={comparison['p']:.2f})"
            )
    probe_parts = []
    for probe in ("adding", "copy"):
        solved = {cell: longest_solved(rows, probe, cell)[0] for cell in ("gru", "lstm", "rnn")}
        if longest_solved(rows, probe, "rnn")[1]:
            probe_parts.append(f"{probe} longest T GRU {solved['gru']}, LSTM {solved['lstm']}, RNN {solved['rnn']}")
    if not n:
        return "inconclusive", "no RNN runs"
    if wins == n and 2 * significant >= n:
        verdict = "supported"
    elif 2 * wins <= n:
        verdict = "not supported"
    else:
        verdict = "inconclusive"
    return verdict, (
        f"GRU/LSTM better than the plain RNN in {wins} of {n} comparisons ({significant} with p < {SIGNIFICANCE}): "
        + "; ".join(parts) + (f"; probes: {'; '.join(probe_parts)}" if probe_parts else "")
    )


RECURRENT = ("gru", "lstm")  # the cells the claims are about
ATTENTION_AND_CONVOLUTION = ("transformer", "cnn")
FLAT = 1.5  # a streamed step "costs the same at any T" when its time grows less than this from the shortest T


def latency_by_cell(rows):
    """{cell: its latency rows, shortest T first}."""
    latency = [r for r in rows if r["kind"] == "latency"]
    return {cell: sorted((r for r in latency if r["cell"] == cell), key=lambda r: r["length"])
            for cell in sorted({r["cell"] for r in latency}, key=cell_sort_key)}


def state_bytes(row):
    return json.loads(row.get("extra") or "{}").get("state_bytes")


def verdict_long_streaming(rows, tables):
    """Recurrent cells against the Transformer, in three parts, each supported when GRU/LSTM do
    better: streaming (the longest T's streamed step: time, and state per stream; a recurrent
    step must not grow with T), whole long sequences (time at the longest T; "not supported"
    when the recurrent cells take over 1.5x the Transformer's), and accuracy on each task
    family's smallest training set (Welch p < 0.05 against the Transformer and the CNN)."""
    by_cell = latency_by_cell(rows)
    if not by_cell:
        return "inconclusive", "no latency rows"
    parts = []
    for cell, cell_rows in by_cell.items():
        short, long = cell_rows[0], cell_rows[-1]
        kept = state_bytes(long)
        parts.append(
            f"{cell}: streamed step {short['step_latency_ms']:.3f} ms at T={short['length']}, "
            f"{long['step_latency_ms']:.3f} ms at T={long['length']}"
            + (f", state {kept / 1024:.1f} KiB per stream" if kept is not None else "")
            + f"; whole sequence {short['value']:.1f} ms at T={short['length']}, {long['value']:.1f} ms at "
            f"T={long['length']}"
        )
    recurrent = [cell for cell in RECURRENT if cell in by_cell]
    if "transformer" not in by_cell or not recurrent:
        streaming = long_input = "inconclusive"
        parts.append("no Transformer measured beside GRU/LSTM (a grid with latency_cells)")
    else:
        at_longest = {cell: by_cell[cell][-1] for cell in [*recurrent, "transformer"]}
        step = {cell: row["step_latency_ms"] for cell, row in at_longest.items()}
        memory = {cell: state_bytes(row) or 0 for cell, row in at_longest.items()}
        flat = all(step[cell] < FLAT * by_cell[cell][0]["step_latency_ms"] for cell in recurrent)
        cheaper = all(step[cell] < step["transformer"] and memory[cell] < memory["transformer"] for cell in recurrent)
        streaming = "supported" if flat and cheaper else "not supported" if not flat else "inconclusive"
        whole = min(at_longest[cell]["value"] for cell in recurrent) / at_longest["transformer"]["value"]
        long_input = "supported" if whole <= 1 else "not supported" if whole > FLAT else "inconclusive"
        parts.append(f"at the longest T the fastest of GRU/LSTM takes {whole:.1f}x the Transformer's time for the "
                     "whole sequence")

    small_parts, small_votes = [], []
    for family, [(size, table), *_] in task_families(tables).items():
        rivals = [cell for cell in ATTENTION_AND_CONVOLUTION if table.by_cell.get(cell)]
        mine = [cell for cell in RECURRENT if table.by_cell.get(cell)]
        if not rivals or not mine:
            continue
        best = max(mine, key=lambda cell: table.better(table.values(cell).mean(), 0))
        for rival in rivals:
            comparison = table.compare(best, rival)
            gap = table.better(comparison["mean_a"], comparison["mean_b"])
            small_parts.append(f"{family} at {size:,} examples: {best} − {rival} {table.metric} {gap:+.4f} "
                               f"(p={comparison['p']:.2f})")
            small_votes.append("inconclusive" if not comparison["p"] < SIGNIFICANCE
                               else "supported" if gap > 0 else "not supported")
    small = ("inconclusive" if not small_votes or all(v == "inconclusive" for v in small_votes)
             else "not supported" if "not supported" in small_votes else "supported")
    votes = (streaming, long_input, small)
    verdict = ("not supported" if "not supported" in votes else "supported" if set(votes) == {"supported"}
               else "inconclusive")
    solved = max([longest_solved(rows, probe, cell)[0] for probe in ("adding", "copy") for cell in RECURRENT] + [0])
    return verdict, (
        f"streaming {streaming}, whole long sequences {long_input}, small data {small}. Batch-1 times and state: "
        + "; ".join(parts) + f"; the longest dependency learned by GRU/LSTM on the probes: T={solved or 'none'}. "
        "Small data: " + ("; ".join(small_parts) or "no task family with GRU/LSTM and a Transformer or CNN")
    )


CLAIMS = [
    ("GRU and LSTM perform alike on many tasks", lambda rows, tables: verdict_alike(tables)),
    ("GRU has fewer parameters and trains faster", lambda rows, tables: verdict_fewer_faster(tables)),
    ("LSTM keeps longer dependencies and gains on larger data", verdict_longer_and_larger),
    ("both beat a plain RNN", verdict_beat_rnn),
    ("recurrent models suit long, streaming and small-data input better than transformers", verdict_long_streaming),
]


# --------------------------------------------------------------------- plots


def plot_all(rows, tables, results_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(figure, name):
        figure.tight_layout()
        figure.savefig(results_dir / name, dpi=90)
        plt.close(figure)
        written.append(name)

    if tables:
        figure, axes = plt.subplots(1, len(tables), figsize=(4.5 * len(tables), 3.4), squeeze=False)
        for axis, table in zip(axes[0], tables):
            for cell in sorted(table.by_cell, key=cell_sort_key):
                curves = [json.loads(r["val_loss_curve"] or "[]") for r in table.by_cell[cell]]
                longest = max(len(c) for c in curves)
                mean = [np.mean([c[e] for c in curves if len(c) > e]) for e in range(longest)]
                axis.plot(range(1, longest + 1), mean, marker="o", label=cell)
            axis.set(title=table.task, xlabel="epoch", ylabel="validation loss (mean over seeds)")
            axis.legend(fontsize=7)
        save(figure, "learning_curves.png")

        figure, axes = plt.subplots(1, len(tables), figsize=(4.5 * len(tables), 3.4), squeeze=False)
        for axis, table in zip(axes[0], tables):
            for cell in sorted(table.by_cell, key=cell_sort_key):
                axis.scatter(table.values(cell, "parameters"), table.values(cell), label=cell, s=18)
            for baseline in table.baselines:
                axis.axhline(baseline["value"], linestyle="--", linewidth=0.8, color="gray")
                axis.annotate(baseline["cell"], (axis.get_xlim()[0], baseline["value"]), fontsize=7, color="gray")
            axis.set(title=table.task, xlabel="parameters", ylabel=table.metric)
            axis.legend(fontsize=7)
        save(figure, "metric_vs_parameters.png")

        figure, axes = plt.subplots(1, len(tables), figsize=(4.5 * len(tables), 3.4), squeeze=False)
        for axis, table in zip(axes[0], tables):
            cells = sorted(table.by_cell, key=cell_sort_key)
            means = [np.nanmean(table.values(c, "seconds_per_epoch")) for c in cells]
            errors = [np.nanstd(table.values(c, "seconds_per_epoch")) for c in cells]
            axis.bar(cells, means, yerr=errors, color="tab:blue")
            axis.set(title=table.task, ylabel="seconds per epoch")
            axis.tick_params(axis="x", rotation=45, labelsize=7)
        save(figure, "time_per_epoch.png")

    norms_path = results_dir / "gradient_norms.json"
    if norms_path.exists():
        norms = json.loads(norms_path.read_text())
        figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for axis, stage in zip(axes, ("initial", "trained")):
            for cell in sorted(norms, key=cell_sort_key):
                values = np.maximum(np.array(norms[cell][stage]), 1e-30)
                axis.semilogy(range(1, len(values) + 1), values, label=cell)
            length = next(iter(norms.values()))["length"]
            axis.set(
                title=f"adding problem, T={length}: {'at initialisation' if stage == 'initial' else 'after training'}",
                xlabel="step t", ylabel="‖∂L/∂h_t‖ (mean over batch)",
            )
            axis.legend(fontsize=7)
        save(figure, "gradient_norms.png")

    latency = [r for r in rows if r["kind"] == "latency"]
    if latency:
        figure, axis = plt.subplots(figsize=(5, 3.6))
        for cell in sorted({r["cell"] for r in latency}, key=cell_sort_key):
            cell_rows = sorted((r for r in latency if r["cell"] == cell), key=lambda r: r["length"])
            line = axis.loglog([r["length"] for r in cell_rows], [r["value"] for r in cell_rows], marker="o", label=f"{cell} sequence")
            axis.axhline(np.median([r["step_latency_ms"] for r in cell_rows]), linestyle=":", color=line[0].get_color())
        axis.set(title="batch-1 inference (dotted: one streaming step)", xlabel="T", ylabel="ms")
        axis.legend(fontsize=7)
        save(figure, "latency.png")
    return written


# -------------------------------------------------------------------- report


def library_versions():
    """The versions the report names, read from the installed packages (nothing is imported)."""
    return {name: importlib.metadata.version(name.lower()) for name in ("TensorFlow", "Keras")}


def task_tables(rows):
    names = []
    for row in rows:
        if row["kind"] in ("task", "baseline") and row["task"] not in names:
            names.append(row["task"])
    tables = [TaskTable(rows, name) for name in names]
    return [t for t in tables if t.rows or t.baselines]


def task_section(table):
    """A task's table of cells and baselines, then its Welch comparisons."""
    arrow = "higher is better" if table.higher_is_better else "lower is better"
    cells = []
    for cell in sorted(table.by_cell, key=cell_sort_key):
        cell_rows = table.by_cell[cell]
        reached, seeds, epochs = convergence(table, cell)
        cells.append([
            cell, len(cell_rows), cell_rows[0]["units"], f"{np.mean(table.values(cell, 'parameters')):,.0f}",
            mean_std(table.values(cell)), mean_std(table.values(cell, "seconds_per_epoch"), 2),
            f"{reached}/{seeds} reached" + (f", mean {epochs:.1f}" if epochs is not None else ""),
            mean_std(table.values(cell, "latency_ms"), 2),
        ])
    for baseline in table.baselines:
        cells.append([f"{baseline['cell']} (baseline)", "–", "–", f"{baseline['parameters']:,.0f}",
                      f"{baseline['value']:.4f}", "–", "–", "–"])
    header = ["cell", "seeds", "units", "parameters", table.metric, "s/epoch", "epochs to target",
              "latency ms (batch 1)"]
    lines = [f"### {table.task} (`{table.metric}`, {arrow})", "", *markdown_table(header, cells)]
    against = table.against_baseline()
    if against and table.by_cell:
        best, beating = against
        lines += ["", f"Beside the best baseline ({best['cell']}, {best['value']:.4f}): "
                  + (f"beaten by {', '.join(beating)}." if beating else "**no recurrent model beats it**.")]
    comparisons = [("gru", "lstm"), ("gru_matched", "lstm"), ("gru", "rnn"), ("lstm", "rnn")]
    # Greff et al.'s variants against their vanilla LSTM (with peepholes), as in the paper
    comparisons += [
        (cell, "lstm_peephole") for cell in sorted(table.by_cell, key=cell_sort_key)
        if cell.startswith("lstm_") and cell != "lstm_peephole"
    ]
    tests = [(a, b, table.compare(a, b)) for a, b in comparisons]
    tests = [(a, b, c) for a, b, c in tests if c]
    if tests:
        lines += ["", *markdown_table(
            ["comparison", "difference of means", "Welch p"],
            [[f"{a} vs {b}", f"{c['mean_a'] - c['mean_b']:+.4f}", f"{c['p']:.3f}"] for a, b, c in tests],
        )]
    return lines + [""]


def probe_cell(row):
    """A probe's score, ✓ when solved, and the step it was first solved at when recorded."""
    if row["solved"] != "True":
        return f"{row['value']:.3f}"
    step = json.loads(row["extra"] or "{}").get("steps_to_solve")
    return f"{row['value']:.3f} ✓" + (f" ({step})" if step else "")


def probe_section(rows):
    probes = [r for r in rows if r["kind"] == "probe"]
    if not probes:
        return []
    lengths = sorted({r["length"] for r in probes})
    cells = []
    for probe in ("adding", "copy"):
        for cell in sorted({r["cell"] for r in probes if r["task"] == probe}, key=cell_sort_key):
            by_length = {r["length"]: r for r in probes if r["task"] == probe and r["cell"] == cell}
            scores = [probe_cell(by_length[t]) if t in by_length else "–" for t in lengths]
            cells.append([probe, cell, longest_solved(rows, probe, cell)[0] or "none", *scores])
    return [
        "## Long-range probes",
        "",
        f"Adding problem (solved: test MSE < 0.01; predicting 1 scores 0.167) and copy memory (solved: "
        f"recall accuracy ≥ 0.99; guessing scores 0.125), one model per cell and T, the same training budget "
        f"(`{json.loads(probes[0]['extra']).get('steps')}` batches of 32) at every T, gradients clipped to norm "
        f"1 and the LSTM's forget-gate bias starting at 1 (the usual remedies for long dependencies: Pascanu et "
        f"al. 2013; Jozefowicz et al. 2015; `lstm_forget_bias_b`: starting at b instead, nearer the 1997 LSTM, "
        f"which had no forget gate). ✓ (n): solved, "
        f"first seen at step n (checked every 1/20 of the budget; older rows have no n). A longer T is not tried "
        f"once a shorter one is unsolved (`–`).",
        "",
        *markdown_table(["probe", "cell", "longest T solved", *(f"T={t}" for t in lengths)], cells),
        "",
    ]


def gradient_section(rows):
    gradients = [r for r in rows if r["kind"] == "gradients"]
    if not gradients:
        return []
    cells = []
    for row in sorted(gradients, key=lambda r: cell_sort_key(r["cell"])):
        extra = json.loads(row["extra"])
        cells.append([row["cell"], f"{extra['initial_ratio']:.2e}", f"{row['value']:.2e}", f"{extra['mse']:.4f}"])
    return [
        f"Gradient norm through time (adding problem, T={gradients[0]['length']}): ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖, "
        "how much of the loss's gradient reaches the first step.",
        "",
        *markdown_table(["cell", "at initialisation", "after training", "test MSE after training"], cells),
        "",
    ]


def latency_section(rows):
    by_cell = latency_by_cell(rows)
    if not by_cell:
        return []
    lengths = sorted({r["length"] for cell_rows in by_cell.values() for r in cell_rows})
    cells = []
    for cell, cell_rows in by_cell.items():
        by_length = {r["length"]: r for r in cell_rows}
        cells.append([cell, *(f"{by_length[t]['value']:.1f}" if t in by_length else "–" for t in lengths),
                      *(f"{by_length[t]['step_latency_ms']:.3f}" if t in by_length else "–" for t in lengths),
                      *(f"{state_bytes(by_length[t]) / 1024:.1f}" if t in by_length and state_bytes(by_length[t])
                        is not None else "–" for t in (lengths[0], lengths[-1]))])
    return [
        "## Latency and memory: whole sequence vs streamed step (batch 1, probe-sized models)",
        "",
        "The T-th streamed step carries the state of T − 1 steps: a recurrent cell's state, the Transformer's "
        "cache of keys and values, the convolution's window. State: what a server keeps per stream.",
        "",
        *markdown_table(["cell", *(f"sequence T={t} ms" for t in lengths), *(f"step T={t} ms" for t in lengths),
                         f"state KiB T={lengths[0]}", f"state KiB T={lengths[-1]}"], cells),
        "",
    ]


def tuning_results(results_dir):
    """importance.json of `evaluate.py --trials` (evaluation.tuning), or None."""
    path = results_dir / "importance.json"
    return json.loads(path.read_text()) if path.exists() else None


def verdict_tuning_matters(importance):
    """Greff et al.'s question, by fANOVA over all trials with the cell as one more hyperparameter."""
    shares = importance.get("all")
    if not shares:
        return "not measured", "Tuning needs two cells and at least two finished trials."
    cell = shares.get("cell", 0.0)
    hyper = {name: share for name, share in shares.items() if name != "cell"}
    top = max(hyper, key=hyper.get)
    holds = sum(hyper.values()) > cell
    ranges = "; ".join(f"{name} {low:.4f}–{high:.4f}" for name, (low, high)
                       in importance["validation_range"].items())
    return ("holds" if holds else "does not hold"), (
        f"Over all {sum(importance['trials'].values())} trials, the hyperparameters explain "
        f"{sum(hyper.values()):.0%} of the validation variance (most: {top}, {hyper[top]:.0%}) and the choice of "
        f"cell {cell:.0%} (fANOVA). Validation range across each cell's trials: {ranges}."
        + (" With fewer than 20 trials per cell these shares are rough." if min(importance["trials"].values()) < 20
           else "")
    )


def tuning_section(importance):
    if not importance:
        return []
    lines = ["## Tuning (equal trials per cell)", "",
             "Each cell's trials over the same search space (evaluation/tuning.py), picked by validation; "
             "the `<cell>_tuned` rows above retrain the best with every seed. "
             "[tuning.csv](tuning.csv) has every trial.", "",
             "| cell | trials | best validation | fANOVA importance (this cell's trials) |", "|---|---|---|---|"]
    for cell, count in importance["trials"].items():
        shares = importance["per_cell"].get(cell, {})
        shown = ", ".join(f"{name} {share:.0%}" for name, share in shares.items()) or "(too few trials)"
        best = importance["best_validation"].get(cell)
        lines.append(f"| {cell} | {count} | {'' if best is None else f'{best:.4f}'} | {shown} |")
    if importance.get("all"):
        lines += ["", "All trials, the cell as one more hyperparameter: "
                  + ", ".join(f"{name} {share:.0%}" for name, share in importance["all"].items()) + "."]
    return lines + [""]


def write_report(results_dir, grid_name, grid, command, wall_seconds=None):
    """Writes `results_dir/report.md` and its PNGs from results.csv; returns the report's path."""
    results_dir = pathlib.Path(results_dir)
    rows = load_rows(results_dir / "results.csv")
    specs = {spec.name: spec for spec in grid.tasks}
    tables = task_tables(rows)
    for table in tables:
        spec = specs.get(table.task)
        table.family = spec.family if spec else None
        for row in table.rows:
            row["train_size"] = spec.train_size if spec else None
    images = plot_all(rows, tables, results_dir)
    versions = library_versions()

    lines = [
        f"# Evaluation: GRU or LSTM? (grid `{grid_name}`)",
        "",
        f"Command: `{command.strip()}`. Written {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()} "
        f"with {os.cpu_count()} CPU cores, "
        + ", ".join(f"{name} {version}" for name, version in versions.items()) + "."
        + (f" Wall time of this invocation: {wall_seconds / 60:.1f} min." if wall_seconds is not None else ""),
        f"{len(rows)} runs in [results.csv](results.csv) (one row per run; `extra` holds the other metrics).",
        "",
        "Every task run trains through `zoo.training.fit` with the grid's budget (same units, "
        "epochs, batch size, learning rate and data for every cell; early stopping on validation loss). "
        "`gru_matched` is a GRU with more units so that its parameter count equals the LSTM's (Chung et al. "
        "2014); `transformer` and `cnn` (if any) run at the units that give the LSTM's parameter count too. Mean ± sample std over seeds; p from Welch's t-test. With 3 seeds the test only detects "
        "large differences, so \"alike\" means \"no significant difference on this grid\". Timings come "
        "from a machine other jobs may share; compare them within a table.",
        "",
        "## Verdicts",
        "",
    ]
    against = {table.task: table.against_baseline() for table in tables if table.by_cell}
    behind = [task for task, result in against.items()
              if result and not ({"gru", "lstm", "gru_tuned", "lstm_tuned"} & set(result[1]))]
    if behind:
        lines.append(f"- **Caveat: neither GRU nor LSTM beats the task's baseline on {', '.join(behind)}**, so "
                     "the verdicts there are about models a simple baseline beats (under-trained or too small: a larger budget, "
                     "tuning or pretraining first).")
    for claim, judge in CLAIMS:
        verdict, text = judge(rows, tables)
        lines.append(f"- **{claim}: {verdict} on this grid.** {text}")
    tuning = tuning_results(results_dir)
    if tuning:
        verdict, text = verdict_tuning_matters(tuning)
        lines.append(f"- **Hyperparameter tuning matters more than the choice of cell: {verdict} on this grid.** "
                     f"{text}")
    lines += ["", "## Tasks", ""]
    for table in tables:
        lines += task_section(table)
    lines += tuning_section(tuning) + probe_section(rows) + gradient_section(rows) + latency_section(rows)
    if images:
        lines += ["## Plots", ""] + [f"![{name[:-4]}]({name})" for name in images] + [""]
    path = results_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
