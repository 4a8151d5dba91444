"""The pictures a run writes beside its metrics (and a model card shows).

    roc_calibration_figure(labels, probabilities)   # a classifier: ROC and reliability
    forecast_figure(histories, actuals, forecasts)  # forecasts against actuals, P10-P90 band
    posteriors_figure(probabilities, alphabet)      # per-frame CTC posteriors of one utterance

Each returns a matplotlib Figure (Agg backend, no display needed); `save` writes it as
a PNG small enough to keep in git.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 80  # about 50 kB per picture


def save(figure, path):
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path


def roc_curve(labels, scores):
    """(false positive rates, true positive rates, AUC) of `scores` for `labels` in {0, 1}."""
    order = np.argsort(-scores, kind="stable")
    labels, scores = np.asarray(labels)[order], np.asarray(scores)[order]
    distinct = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]  # last index of each score
    true_positives = np.cumsum(labels)[distinct]
    false_positives = distinct + 1 - true_positives
    tpr = np.r_[0.0, true_positives / max(labels.sum(), 1)]
    fpr = np.r_[0.0, false_positives / max(len(labels) - labels.sum(), 1)]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def reliability(confidence, correct, bins=10):
    """(mean confidence, accuracy, count) per equal-width confidence bin (empty bins dropped)."""
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    kept = counts > 0
    mean_confidence = np.bincount(index, confidence, bins)[kept] / counts[kept]
    accuracy = np.bincount(index, correct.astype(float), bins)[kept] / counts[kept]
    return mean_confidence, accuracy, counts[kept]


def roc_calibration_figure(labels, probabilities, class_names=None, title=""):
    """ROC (one curve per class against the rest) and the reliability diagram of the top class."""
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    num_classes = probabilities.shape[1]
    class_names = class_names or [str(k) for k in range(num_classes)]
    figure, (roc_axes, calibration_axes) = plt.subplots(1, 2, figsize=(9, 4))
    for k in range(1 if num_classes == 2 else 0, num_classes):  # binary: the positive class only
        fpr, tpr, auc = roc_curve(labels == k, probabilities[:, k])
        roc_axes.plot(fpr, tpr, label=f"{class_names[k]} (AUC {auc:.3f})")
    roc_axes.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc_axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    roc_axes.legend(loc="lower right", fontsize=8)

    confidence, accuracy, counts = reliability(probabilities.max(1), probabilities.argmax(1) == labels)
    calibration_axes.plot([0, 1], [0, 1], color="grey", linestyle=":")
    calibration_axes.plot(confidence, accuracy, marker="o")
    for x, y, n in zip(confidence, accuracy, counts):
        calibration_axes.annotate(str(n), (x, y), fontsize=7, textcoords="offset points", xytext=(2, -9))
    calibration_axes.set(xlabel="confidence (top class)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
                         title="calibration (texts per bin)")
    figure.suptitle(title)
    return figure


def forecast_figure(histories, actuals, forecasts, names, lower=None, upper=None, context=None, title=""):
    """One panel per series: the last `context` history values, the actuals and the forecast
    (with the band between `lower` and `upper` when given). Arrays are (series, steps)."""
    count = len(names)
    figure, axes = plt.subplots(count, 1, figsize=(9, 2.2 * count), squeeze=False)
    for row, axis in enumerate(axes[:, 0]):
        history = histories[row][~np.isnan(histories[row])]
        history = history[-context:] if context else history
        past = np.arange(-len(history), 0)
        future = np.arange(len(actuals[row]))
        axis.plot(past, history, color="black", linewidth=1, label="history")
        axis.plot(future, actuals[row], color="black", linestyle="--", linewidth=1, label="actual")
        axis.plot(future, forecasts[row], color="tab:blue", linewidth=1.5, label="forecast")
        if lower is not None:
            axis.fill_between(future, lower[row], upper[row], color="tab:blue", alpha=0.2, label="P10-P90")
        axis.set_ylabel(names[row])
        axis.axvline(-0.5, color="grey", linewidth=0.5)
    axes[0, 0].legend(loc="upper left", fontsize=8, ncol=4)
    axes[-1, 0].set_xlabel("step (0 = first forecast step)")
    figure.suptitle(title)
    return figure


def posteriors_figure(probabilities, alphabet, frame_seconds, reference="", hypothesis="", title=""):
    """Per-frame posteriors `(frames, len(alphabet) + 1)` (last: blank) of one utterance."""
    frames = np.arange(len(probabilities)) * frame_seconds
    figure, axis = plt.subplots(figsize=(9, 3.2))
    axis.plot(frames, probabilities[:, -1], color="lightgrey", linewidth=1, label="blank")
    colours = plt.get_cmap("tab10")
    for k, symbol in enumerate(alphabet):
        peak = probabilities[:, k]
        if peak.max() > 0.05:
            axis.plot(frames, peak, color=colours(k % 10), linewidth=1.2, label=symbol)
    axis.set(xlabel="time (s)", ylabel="posterior", ylim=(0, 1.02),
             title=f"{title}\nreference {reference!r}, decoded {hypothesis!r}".strip())
    axis.legend(loc="upper right", fontsize=8, ncol=6)
    return figure
