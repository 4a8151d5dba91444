"""One verdict per folklore claim about GRU and LSTM, each with the numbers behind it and "supported",
"not supported" or "inconclusive on this grid" (`CLAIMS`, in the report's order), and the tuning verdict."""

import collections
import json
import math

import numpy as np

from evaluation.grids import FORGET_BIAS_LABEL
from evaluation.tables import SIGNIFICANCE, cell_sort_key, longest_solved, lstm_forget_bias_cells, mean_std

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


