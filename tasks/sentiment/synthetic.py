"""The sentiment task's offline corpus: reviews whose label is carried by word order.

Each review has one or two opinion clauses hidden among neutral sentences. A clause
is "<subject> was [negator] [intensifier] <word>"; a negator flips the word's
polarity. In a contrast review the clause after "but" (or before "although") decides
the label and the other clause says the opposite, so both polarities' words occur in
every such review: the label is in the order of the words, not in their counts.
"""

import random

POSITIVE = "good great excellent wonderful superb brilliant enjoyable delightful charming gripping".split()
NEGATIVE = "bad awful terrible boring dull weak tedious clumsy bland painful".split()
NEGATORS = ["not", "never", "hardly"]
INTENSIFIERS = ["very", "really", "truly", "quite", "remarkably"]
SUBJECTS = "plot acting film script ending music cast direction dialogue pacing".split()
NEUTRAL = (
    "the a this that camera city night story scene character family weather house road "
    "train director actor minute hour year time people town window door friend letter "
    "morning evening shot frame moves walks talks looks opens closes waits arrives leaves "
    "in on at with from after before during about around through"
).split()


def _clause(rng, polarity):
    negated = rng.random() < 0.5
    word_polarity = -polarity if negated else polarity
    words = ["the", rng.choice(SUBJECTS), "was"]
    if negated:
        words.append(rng.choice(NEGATORS))
    if rng.random() < 0.4:
        words.append(rng.choice(INTENSIFIERS))
    words.append(rng.choice(POSITIVE if word_polarity > 0 else NEGATIVE))
    return " ".join(words)


def _neutral_sentence(rng):
    return " ".join(rng.choice(NEUTRAL) for _ in range(rng.randint(4, 12))) + " ."


def synthetic_review(rng):
    """(text, label) with label 1 = positive."""
    polarity = rng.choice([-1, 1])
    kind = rng.random()
    if kind < 0.35:
        opinion = _clause(rng, polarity)
    elif kind < 0.7:
        opinion = f"{_clause(rng, -polarity)} , but {_clause(rng, polarity)}"
    else:
        opinion = f"{_clause(rng, polarity)} , although {_clause(rng, -polarity)}"
    before = [_neutral_sentence(rng) for _ in range(rng.randint(0, 3))]
    after = [_neutral_sentence(rng) for _ in range(rng.randint(0, 12))]  # cue far from the end
    return " ".join(before + [opinion + " ."] + after), int(polarity > 0)


def synthetic_corpus(num_train, num_test, seed):
    rng = random.Random(seed)
    reviews = [synthetic_review(rng) for _ in range(num_train + num_test)]
    return reviews[:num_train], reviews[num_train:]
