"""M4 benchmark of the forecasting task: models trained by train.py's loop, one per
seed and variant, and their ensemble (the median of their forecasts), scored as M4 scored.

    python benchmarks/forecasting_m4.py --data-dir ../shared/data/m4_hourly --seeds 0 1 2 \
        --set cell=lstm --set input_window=336
    python benchmarks/forecasting_m4.py --data-dir ../shared/data/m4_hourly --seeds 0 1 2 \
        --variant "" --variant loss=smape --members-dir /tmp/m4_members

`--set` applies to every member; each `--variant` ("key=value,key=value", "" for none)
makes one member per seed, so an ensemble can mix losses or windows as N-BEATS does.
With `--members-dir`, each member's test forecasts and scores are kept there and a
member already there is not trained again (a rerun with more seeds or variants only
trains the new ones). Prints each member's and the ensemble's sMAPE / MASE / OWA beside
Naive2, sNaive and, when the folder has `m4_hourly_method_scores.csv`, the
competition's entries.
"""

import argparse
import ast
import csv
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tasks.forecasting import m4  # noqa: E402
from tasks.forecasting.m4 import format_score_table, forecast_scores, load_m4  # noqa: E402
from zoo.task import get_task, resolve_config  # noqa: E402
from zoo.training import fit  # noqa: E402



def parse_override(text):
    key, _, value = text.partition("=")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def member_name(overrides, seed):
    settings = "-".join(f"{key}={value}" for key, value in sorted(overrides.items())) or "defaults"
    return f"{settings}-seed{seed}".replace("/", "_")


def train_member(task, data_dir, overrides, seed, members_dir):
    """(forecasts, summary line) of one member, read from `members_dir` when it is there."""
    name = member_name(overrides, seed)
    kept = members_dir / f"{name}.npz" if members_dir else None
    if kept and kept.exists():
        saved = np.load(kept)
        return saved["forecasts"], f"{name}: {saved['summary']} (kept in {members_dir})"
    config = resolve_config(task, data="m4", data_dir=data_dir, seed=seed, **overrides)
    with tempfile.TemporaryDirectory() as scratch:  # the run folder is not kept
        run = fit(task, config, f"{scratch}/runs", verbose=0)
    forecasts = run.model.predict(run.data.test, verbose=0)
    metrics = run.metrics
    keras.backend.clear_session()
    summary = (
        f"sMAPE {metrics['smape']:.3f} MASE {metrics['mase']:.3f} OWA {metrics['owa']:.3f} "
        f"({metrics['train_seconds']:.0f} s, {metrics['parameters']:,} parameters)"
    )
    if kept:
        members_dir.mkdir(parents=True, exist_ok=True)
        np.savez(kept, forecasts=forecasts, summary=summary)
    return forecasts, f"{name}: {summary}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument(
        "--variant", action="append", metavar="KEY=VALUE,...",
        help="overrides of one group of members, one member per seed (repeat; default: one group, no overrides)",
    )
    parser.add_argument("--members-dir", type=pathlib.Path, help="keep (and reuse) each member's forecasts here")
    parser.add_argument("--forecasts-out", help="write the ensemble's forecasts here (CSV: id, F1..FH)")
    args = parser.parse_args()

    task = get_task("forecasting")
    common = dict(parse_override(text) for text in args.set)
    variants = [
        dict(parse_override(text) for text in variant.split(",") if text) for variant in (args.variant or [""])
    ]
    start = time.perf_counter()
    config = resolve_config(task, data="m4", data_dir=args.data_dir, **common)
    series, _ = load_m4(config["data_dir"], config["m4_frequency"])  # the test series every member forecasts
    forecasts = []
    for variant in variants:
        for seed in args.seeds:
            member, line = train_member(task, args.data_dir, {**common, **variant}, seed, args.members_dir)
            forecasts.append(member)
            print(line, flush=True)
    ensemble = np.median(np.stack(forecasts), axis=0)
    scores = forecast_scores(series, ensemble)
    if args.forecasts_out:
        with open(args.forecasts_out, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id"] + [f"F{step + 1}" for step in range(ensemble.shape[1])])
            for name, row in zip(series.names, ensemble):
                writer.writerow([name] + [f"{value:.6g}" for value in row])
    elapsed = time.perf_counter() - start

    print(f"ensemble of {len(forecasts)} (median), {elapsed / 60:.1f} min in all, --set {common}, variants {variants}:")
    print(format_score_table(scores, "ensemble"))
    for name, scores in m4.hourly_reference_scores(args.data_dir).items():
        print(f"{name}: sMAPE {scores['smape']:.3f} MASE {scores['mase']:.3f} OWA {scores['owa']:.3f}")


if __name__ == "__main__":
    main()
