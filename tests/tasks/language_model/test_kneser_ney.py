"""The Kneser-Ney baseline: a distribution over the whole vocabulary after any history, equal to a
plain dictionary implementation of the interpolated formula."""

import collections
import math

import numpy as np
import pytest

from tasks.language_model.kneser_ney import KneserNey, perplexity

SIZE = 7  # ids 1..6 are words, 0 is padding
STREAM = [1, 2, 3, 1, 2, 4, 1, 2, 3, 5, 2, 3, 1, 6, 2, 3, 3, 1, 2]


def reference_probability(stream, history, word, order, size):
    """Interpolated Kneser-Ney written from its definition (tasks/language_model/kneser_ney.py's docstring)."""
    grams = {k: collections.Counter(tuple(stream[i:i + k]) for i in range(len(stream) - k + 1))
             for k in range(1, order + 1)}
    counts = {order: grams[order]}
    for k in range(order - 1, 0, -1):  # continuation counts: distinct words before the k-gram
        counts[k] = collections.Counter(gram[1:] for gram in counts[k + 1])

    def discount(k):
        ones = sum(1 for c in counts[k].values() if c == 1)
        twos = sum(1 for c in counts[k].values() if c == 2)
        return ones / (ones + 2 * twos) if ones else 0.5

    def probability(k, history):
        if k == 1:
            total = sum(counts[1].values())
            return (max(counts[1][(word,)] - discount(1), 0) + discount(1) * len(counts[1]) / size) / total
        lower = probability(k - 1, history[1:])
        following = {gram[-1]: c for gram, c in counts[k].items() if gram[:-1] == history}
        total = sum(following.values())
        if not total:
            return lower
        return (max(following.get(word, 0) - discount(k), 0) + discount(k) * len(following) * lower) / total

    return probability(len(history) + 1, tuple(history))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_probabilities_equal_the_definition_and_sum_to_one(order):
    model = KneserNey(order, SIZE).fit(STREAM)
    for history in ([1, 2], [2, 3], [6, 6], [3, 5]):  # seen, seen, never seen, seen once
        history = history[2 - (order - 1):]
        context = history or [1]  # order 1: a first word the unigram ignores
        rows = np.array([[*context, word] for word in range(1, SIZE)])
        # each row's last score: the word after the whole history
        probabilities = np.exp(model.log_probabilities(rows).reshape(len(rows), -1)[:, -1])
        expected = [reference_probability(STREAM, history, word, order, SIZE) for word in range(1, SIZE)]
        np.testing.assert_allclose(probabilities, expected, rtol=1e-9)
        # with padding id 0 taking its share of the uniform part, the words' total is just under 1
        assert 0.9 < probabilities.sum() <= 1.0 + 1e-9


def test_a_row_is_scored_with_the_history_it_holds_and_padding_is_skipped():
    model = KneserNey(3, SIZE).fit(STREAM)
    row = np.array([[1, 2, 3, 1, 0, 0]])
    scored = model.log_probabilities(row)
    assert len(scored) == 3  # 2 | 1;  3 | 1 2;  1 | 2 3
    expected = [reference_probability(STREAM, [1], 2, 3, SIZE), reference_probability(STREAM, [1, 2], 3, 3, SIZE),
                reference_probability(STREAM, [2, 3], 1, 3, SIZE)]
    np.testing.assert_allclose(np.exp(scored), expected, rtol=1e-9)
    assert perplexity(scored) == pytest.approx(math.exp(-np.mean(np.log(expected))))


def test_an_order_too_high_for_int64_keys_is_refused():
    with pytest.raises(ValueError, match="order 5 over 20000 words does not fit int64 keys"):
        KneserNey(5, 20000)
