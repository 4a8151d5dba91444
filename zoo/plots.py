"""The pictures a run writes beside its metrics (and a model card shows): matplotlib on the Agg
backend (no display needed), and `save`, which writes a Figure as a PNG small enough to keep in
git. Each task draws its own picture (`Task.figure`, e.g. `tasks.sentiment.figures`) with `plt`."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

DPI = 80  # about 50 kB per picture


def save(figure, path):
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path
