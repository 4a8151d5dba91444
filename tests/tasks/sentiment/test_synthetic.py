"""The sentiment task's synthetic corpus: seeded, balanced, label in word order."""

import random

from tasks.sentiment import synthetic as reviews


def test_synthetic_corpus_is_seeded_and_balanced():
    first, _ = reviews.synthetic_corpus(500, 10, seed=3)
    again, _ = reviews.synthetic_corpus(500, 10, seed=3)
    assert first == again
    assert 200 < sum(label for _, label in first) < 300


def test_synthetic_contrast_reviews_hold_both_polarities():
    """In contrast reviews, both polarities' words occur: counts alone can't decide."""
    rng = random.Random(0)
    contrast = [r for r in (reviews.synthetic_review(rng) for _ in range(300)) if " but " in r[0]]
    assert contrast
    for text, _ in contrast:
        words = set(text.split())
        has_positive = bool(words & set(reviews.POSITIVE))
        has_negative = bool(words & set(reviews.NEGATIVE))
        negated = bool(words & set(reviews.NEGATORS))
        assert (has_positive and has_negative) or negated


def test_label_follows_the_clause_after_but():
    rng = random.Random(1)
    for _ in range(200):
        text, label = reviews.synthetic_review(rng)
        if " but " not in text:
            continue
        clause = text.split(" but ")[1].split(" .")[0].split()
        word = clause[-1]
        polarity = 1 if word in reviews.POSITIVE else -1
        if set(clause) & set(reviews.NEGATORS):
            polarity = -polarity
        assert label == int(polarity > 0)
