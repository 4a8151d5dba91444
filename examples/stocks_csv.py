"""Writes matplotlib's bundled monthly stock prices (`mpl-data/sample_data/Stocks.csv`,
Yahoo Finance, 1990-, ten series with gaps) as the forecasting task's long CSV
(`id,timestamp,value`): a public series set any installation has, for trying the zoo on data
that is not M4.

    python examples/stocks_csv.py stocks.csv
    python train.py --task forecasting --data csv --data-dir stocks.csv --horizon 12 --seasonality 12
    python evaluate.py --task forecasting --data csv --data-dir stocks.csv --set horizon=12 --set seasonality=12

Rows with no price at all (the file has a few mid-month dates) are left out, and so are a
series' months before it was listed (AMZN, DELL, GOOGL start later).
"""

import csv
import pathlib
import sys

import matplotlib


def stock_rows():
    source = pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "Stocks.csv"
    lines = [line for line in source.read_text().splitlines() if line and not line.startswith("#")]
    reader = csv.DictReader(lines)
    for record in reader:
        date = record.pop("Date")
        if not any(record.values()):
            continue
        for name, value in record.items():
            if value:  # a series starts when it was listed
                yield name, date, value


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: python examples/stocks_csv.py OUT.csv")
    with open(argv[0], "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "timestamp", "value"])
        writer.writerows(stock_rows())
    print(f"wrote {argv[0]}")


if __name__ == "__main__":
    main()
