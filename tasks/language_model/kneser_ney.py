"""The count-based baseline: an interpolated Kneser-Ney n-gram model (Kneser & Ney 1995; the interpolated
form of Chen & Goodman 1998), on the language model's own words and vocabulary.

For an n-gram model and a word w after the history h (its last n − 1 words; h' is h without its
first word):

    P_n(w | h) = max(c(h w) − D_n, 0) / c(h •)  +  D_n N₁₊(h •) / c(h •) · P_{n−1}(w | h')

with c the training counts at the highest order. Each lower order k < n uses continuation counts
in place of c: c_k(h w) = N₁₊(• h w), the number of distinct words seen before `h w`. A history
never seen (c(h •) = 0) falls back to P_{k−1}(w | h') whole. The unigram is interpolated with
the uniform distribution over the V ids, so every word, unseen ones included, has a probability:

    P_1(w) = max(N₁₊(• w) − D_1, 0) / N₁₊(• •)  +  D_1 N₁₊(types) / N₁₊(• •) · 1 / V

Discounts per order from the counts of counts (Ney et al. 1994): D_k = n₁ / (n₁ + 2 n₂), with
n_r the number of k-grams whose (continuation) count is r. Everything is vectorised over
integer keys (an n-gram of ids is one int64 in base V), so counting a 20M-word stream takes
seconds, not minutes.
"""

import numpy as np


class KneserNey:
    """`KneserNey(order, vocabulary_size).fit(stream)`, then `log_probabilities(windows)`."""

    def __init__(self, order, vocabulary_size):
        if order < 1 or vocabulary_size ** order >= 2**63:
            raise ValueError(f"a Kneser-Ney model of order {order} over {vocabulary_size} words does not fit "
                             "int64 keys; take a lower order.")
        self.order, self.size = order, vocabulary_size
        self.tables = {}  # order k -> (sorted keys, count used at k, discount)
        self.contexts = {}  # order k -> (sorted history keys, sum of counts, number of following types)

    def fit(self, stream):
        """Counts the n-grams of a 1-D array of word ids (one stream of training text)."""
        stream = np.asarray(stream, dtype=np.int64)
        keys, counts = np.unique(self._keys(stream, self.order), return_counts=True)
        for k in range(self.order, 0, -1):
            self.tables[k] = (keys, counts, _discount(counts))
            histories, first = np.unique(keys // self.size, return_index=True)
            sums = np.add.reduceat(counts, first) if len(keys) else counts
            self.contexts[k] = (histories, sums, np.diff(np.append(first, len(keys))))
            if k > 1:  # continuation counts of the (k-1)-grams: distinct words before each
                keys, counts = np.unique(keys % self.size ** (k - 1), return_counts=True)
        return self

    @property
    def stored_ngrams(self):
        return int(sum(len(keys) for keys, _, _ in self.tables.values()))

    def log_probabilities(self, windows):
        """Natural-log probabilities of every word after the first in each row of `windows` (ids, 0
        padding), given the words before it in its row (at most order − 1 of them); a flat array."""
        windows = np.asarray(windows, dtype=np.int64)
        rows, positions = np.nonzero(windows[:, 1:] > 0)
        positions = positions + 1
        targets = windows[rows, positions]
        keys, counts, discount = self.tables[1]
        _, sums, types = self.contexts[1]
        probability = (np.maximum(_lookup(keys, counts, targets) - discount, 0)
                       + discount * types[0] / self.size) / sums[0]
        for k in range(2, self.order + 1):
            usable = positions >= k - 1  # a history of k − 1 words in the row
            history = np.zeros(len(targets), np.int64)
            for back in range(k - 1, 0, -1):
                history = history * self.size + windows[rows, np.maximum(positions - back, 0)]
            keys, counts, discount = self.tables[k]
            context_keys, sums, types = self.contexts[k]
            total = _lookup(context_keys, sums, history)
            seen = usable & (total > 0)
            count = _lookup(keys, counts, history * self.size + targets)
            higher = (np.maximum(count - discount, 0) + discount * _lookup(context_keys, types, history) * probability
                      ) / np.maximum(total, 1)
            probability = np.where(seen, higher, probability)
        return np.log(probability)

    def _keys(self, stream, k):
        keys = np.zeros(len(stream) - k + 1, np.int64)
        for offset in range(k):
            keys = keys * self.size + stream[offset:len(stream) - k + 1 + offset]
        return keys


def _discount(counts):
    ones, twos = np.sum(counts == 1), np.sum(counts == 2)
    return float(ones / (ones + 2 * twos)) if ones else 0.5


def _lookup(sorted_keys, values, queries):
    """`values` at `queries`' places in `sorted_keys`, 0 where a query is absent."""
    index = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return np.where(sorted_keys[index] == queries, values[index], 0).astype(np.float64)


def perplexity(log_probabilities):
    return float(np.exp(-np.mean(log_probabilities)))
