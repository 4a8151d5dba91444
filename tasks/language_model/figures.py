"""The language model's picture: its likeliest next words after a few prompts."""

import numpy as np

from zoo.plots import plt

PROMPTS = ("this movie was", "the acting is", "i would not recommend")


def next_words_figure(predictor, title="", prompts=PROMPTS, top_k=8):
    """One panel per prompt: the model's `top_k` next words and their probabilities (`WordPredictor`)."""
    import tensorflow as tf

    following = predictor.next_words(tf.constant(list(prompts)), top_k)
    figure, axes = plt.subplots(1, len(prompts), figsize=(4 * len(prompts), 3.2), squeeze=False)
    for axis, prompt, words, probabilities in zip(axes[0], prompts, following["words"].numpy(),
                                                   following["probabilities"].numpy()):
        rows = np.arange(len(words))[::-1]
        axis.barh(rows, probabilities, color="tab:blue")
        axis.set_yticks(rows, [word.decode() for word in words])
        axis.set_xlabel("probability of the next word")
        axis.set_title(f"“{prompt} …”", fontsize=10)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
