"""M4 benchmark of the forecasting task: models trained by train.py's loop, one per
seed, and their ensemble (the median of their forecasts), scored as M4 scored.

    python benchmarks/forecasting_m4.py --data-dir ../shared/data/m4_hourly --seeds 0 1 2 \
        --set cell=lstm --set input_window=336

Prints each member's and the ensemble's sMAPE / MASE / OWA beside Naive2, sNaive
and, when the folder has `m4_hourly_method_scores.csv`, the competition's entries.
"""

import argparse
import ast
import csv
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tasks.forecasting import format_score_table, forecast_scores  # noqa: E402
from zoo.task import get_task, task_config  # noqa: E402
from zoo.training import train_and_export  # noqa: E402

# Reference entries of the M4 Hourly table (method id in m4_hourly_method_scores.csv).
REFERENCES = {"238": "best Hourly entry (Doornik et al.)", "118": "ES-RNN (Smyl, M4 winner)"}


def parse_override(text):
    key, _, value = text.partition("=")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--forecasts-out", help="write the ensemble's forecasts here (CSV: id, F1..FH)")
    args = parser.parse_args()

    task = get_task("forecasting")
    overrides = dict(parse_override(text) for text in args.set)
    start = time.perf_counter()
    forecasts, member_lines = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            config = task_config(task, data="m4", data_dir=args.data_dir, seed=seed, **overrides)
            config["verbose"] = 0
            run_dir, metrics, _ = train_and_export(task, config, f"{scratch}/runs", f"{scratch}/exports")
            data = task.build_inputs(config)
            model = keras.saving.load_model(run_dir / "model.keras")
            forecasts.append(model.predict(data.test, verbose=0))
            member_lines.append(
                f"seed {seed}: sMAPE {metrics['smape']:.3f} MASE {metrics['mase']:.3f} "
                f"OWA {metrics['owa']:.3f} ({metrics['train_seconds']:.0f} s, {metrics['parameters']:,} parameters)"
            )
    ensemble = np.median(np.stack(forecasts), axis=0)
    scores = forecast_scores(data.reference, ensemble)
    if args.forecasts_out:
        with open(args.forecasts_out, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id"] + [f"F{step + 1}" for step in range(ensemble.shape[1])])
            for name, row in zip(data.reference.names, ensemble):
                writer.writerow([name] + [f"{value:.6g}" for value in row])
    elapsed = time.perf_counter() - start

    print("\n".join(member_lines))
    print(f"ensemble of {len(args.seeds)} (median), {elapsed / 60:.1f} min in all, config {overrides}:")
    print(format_score_table(scores, f"ensemble-{config['cell']}"))
    table = pathlib.Path(args.data_dir) / "m4_hourly_method_scores.csv"
    if table.exists():
        with open(table) as handle:
            for row in csv.DictReader(handle):
                if row["method"] in REFERENCES:
                    print(
                        f"{REFERENCES[row['method']]}: sMAPE {float(row['smape_hourly']):.3f} "
                        f"MASE {float(row['mase_hourly']):.3f} OWA {float(row['owa_hourly']):.3f}"
                    )


if __name__ == "__main__":
    main()
