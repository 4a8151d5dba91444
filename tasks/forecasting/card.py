"""The card facts of the zoo's shipped forecasters (`benchmarks/build_zoo.py` renders them with `zoo.cards`):
M4 Hourly's data and split, the architecture, the M4 benchmarks and entries beside the model, and the
cost of a short history."""

import numpy as np

from tasks.forecasting import m4
from tasks.forecasting.layers import last_values


def card_facts(recipe, config, data, metrics, model, data_path):
    series = data.reference
    short = 7 * series.seasonality
    histories = last_values(series.insamples, config["input_window"])
    histories[:, :-short] = np.nan  # one week of history only
    short_scores = m4.forecast_scores(series, model.predict(histories, verbose=0))["model"]
    reference_rows = [(f"M4 entry: {name}", *(f"{scores[k]:.3f}" for k in ("smape", "mase", "owa")))
                      for name, scores in m4.hourly_reference_scores(data_path).items()]
    cell = recipe.cell.upper()
    return {
        "summary": "Hourly series forecasting, 48 hours ahead, from raw history: "
                   + (f"the median of {len(recipe.seeds)} {cell} forecasters (seeds {', '.join(map(str, recipe.seeds))})"
                      if len(recipe.seeds) > 1 else f"one {cell} forecaster")
                   + " trained on M4 Hourly.",
        "task_line": "forecasting (`tasks/forecasting/`): raw history in, 48 forecasts out",
        "data": [
            ("data", "M4 Competition, Hourly subset (Makridakis et al., IJF 2020): 414 series, horizon 48, m = 24"),
            ("licence", "none stated (published for reproducing and evaluating forecasts; cite the paper)"),
            ("split", "the competition's: each series' in-sample values train (its last 48 validate), "
                      "the 48 values after it test"),
        ],
        "architecture": f"history / level (mean absolute value over the last day) in chunks of {config['chunk_length']} → "
                        f"{config['num_layers']} x {cell} {config['units']} → dense 48 = correction to the "
                        "seasonal-naive forecast → x level"
                        + (f"; {len(recipe.seeds)} members, their median in the graph" if len(recipe.seeds) > 1 else ""),
        "baseline_header": ("method", "sMAPE", "MASE", "OWA"),
        "baselines": [
            ("this model", *(f"{metrics[k]:.3f}" for k in ("smape", "mase", "owa"))),
            *[(name, *(f"{metrics[f'{key}_{k}']:.3f}" for k in ("smape", "mase", "owa")))
              for name, key in (("Naive", "naive"), ("sNaive", "snaive"), ("Naive2", "naive2"))],
            *reference_rows,
        ],
        "not_for": [
            f"Series shorter than its window: it reads {config['input_window']} values (two weeks); "
            f"shorter histories are NaN-padded and work, but cost accuracy. Measured with only the last "
            f"week of each test history: OWA {short_scores['owa']:.3f} against {metrics['owa']:.3f} with "
            f"the full window.",
            "Other frequencies: trained on hourly series with a daily season (m = 24) and a 48-step "
            "horizon, which the export fixes; train your own with `--data csv --horizon H --seasonality m`.",
            "Intervals: it forecasts a point; train with `--quantiles 0.1,0.5,0.9` for a P10-P90 band.",
        ],
        "picture": "figure.png",
        "picture_caption": "forecasts against actuals, first test series",
        "examples": {"serving_default": {"history": [[round(float(v), 1) for v in series.insamples[0][-48:]]]}},
    }
