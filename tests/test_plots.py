"""The pictures runs and model cards show: ROC and calibration numbers, and PNGs written."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tasks.ctc_speech import figures as speech_figures
from tasks.forecasting import figures as forecasting_figures
from tasks.sentiment import figures as sentiment_figures
from zoo import plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_roc_area_equals_scikit_learns_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    scores = np.round(rng.random(400) + 0.4 * labels, 1)  # many ties
    fpr, tpr, auc = sentiment_figures.roc_curve(labels, scores)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)


def test_reliability_bins_on_a_constructed_case():
    confidence = np.array([0.55, 0.58, 0.95, 0.91, 0.99])
    correct = np.array([True, False, True, True, False])
    mean_confidence, accuracy, counts = sentiment_figures.reliability(confidence, correct)
    np.testing.assert_allclose(mean_confidence, [0.565, 0.95])
    np.testing.assert_allclose(accuracy, [0.5, 2 / 3])
    assert counts.tolist() == [2, 3]


def test_each_figure_saves_a_png(tmp_path):
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet([1, 1, 1], size=30)
    figures = {
        "roc": sentiment_figures.roc_calibration_figure(rng.integers(0, 3, 30), probabilities, ["a", "b", "c"]),
        "forecast": forecasting_figures.forecast_figure(
            np.r_[np.nan, rng.random(9)][None].repeat(2, 0), rng.random((2, 4)), rng.random((2, 4)), ["S1", "S2"],
            lower=np.zeros((2, 4)), upper=np.ones((2, 4)), context=5,
        ),
        "posteriors": speech_figures.posteriors_figure(rng.dirichlet(np.ones(11), size=20), "0123456789", 0.04, "12", "12"),
    }
    for name, figure in figures.items():
        path = plots.save(figure, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == PNG and path.stat().st_size < 200_000
