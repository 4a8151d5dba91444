"""Sentiment's picture: ROC and reliability (calibration) of a classifier's test predictions."""

import numpy as np

from zoo.plots import plt


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
