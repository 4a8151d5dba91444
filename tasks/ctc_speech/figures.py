"""The speech task's picture: the per-frame CTC posteriors of one utterance."""

import numpy as np

from zoo.plots import plt


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
