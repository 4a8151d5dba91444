"""The evaluation harness: GRU or LSTM on a grid of tasks x cells x seeds, the probes, the report.

`grids` names what to run, `runs` runs it into results.csv, `probes` holds the
long-range probes, `report` turns results.csv into report.md. `evaluate.py` is its CLI.
"""
