"""The evaluation report: `results/<name>/report.md` and its PNGs from `results.csv`.

Tables of mean ± std over seeds, Welch's t-test between GRU and LSTM (`evaluation.tables`), the
probes, and one verdict line per folklore claim (`evaluation.verdicts`), each with the numbers
behind it and "supported", "not supported" or "inconclusive on this grid".
"""

import json
import os
import pathlib
import platform
import time

import numpy as np

from evaluation.tables import TaskTable, cell_sort_key, load_rows, longest_solved, mean_std
from evaluation.verdicts import CLAIMS, convergence, latency_by_cell, state_bytes, verdict_tuning_matters
from zoo.cards import markdown_table
from zoo.export import library_versions as export_library_versions

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
    """The versions the report names: TensorFlow's and Keras's of those an export records."""
    versions = export_library_versions()
    return {"TensorFlow": versions["tensorflow"], "Keras": versions["keras"]}


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


def fold_sections(tables, specs):
    """For each speaker-disjoint evaluation (the specs sharing `TaskSpec.folds`): every cell's mean over
    seeds on each fold, and the mean ± std of those over the folds."""
    evaluations = {}
    for table in tables:
        spec = specs.get(table.task)
        if spec is not None and spec.folds and table.by_cell:
            evaluations.setdefault(spec.folds, []).append(table)
    lines = []
    for folds, fold_tables in evaluations.items():
        cells = sorted({cell for table in fold_tables for cell in table.by_cell}, key=cell_sort_key)
        rows = []
        for cell in cells:
            means = [table.values(cell).mean() if len(table.values(cell)) else None for table in fold_tables]
            found = [mean for mean in means if mean is not None]
            seeds = sorted({len(table.values(cell)) for table in fold_tables if len(table.values(cell))})
            rows.append([cell, *["–" if mean is None else f"{mean:.4f}" for mean in means],
                         mean_std(found) + f" ({len(found)} of {len(means)} folds)", "/".join(map(str, seeds))])
        table = fold_tables[0]
        arrow = "higher is better" if table.higher_is_better else "lower is better"
        lines += [f"### {folds} (`{table.metric}`, {arrow})", "", *markdown_table(
            ["cell", *[t.task.removeprefix(f"{folds}-") for t in fold_tables], "mean over folds", "seeds"], rows), ""]
    if not lines:
        return []
    return ["## Voices it never heard (speaker-disjoint folds)", "",
            "Each fold trains without some voices and tests on them; a fold's value is the mean over its seeds.",
            "", *lines]


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
    lines += fold_sections(tables, specs)
    lines += tuning_section(tuning) + probe_section(rows) + gradient_section(rows) + latency_section(rows)
    if images:
        lines += ["## Plots", ""] + [f"![{name[:-4]}]({name})" for name in images] + [""]
    path = results_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
