"""Sentiment's baseline, which the harness, the cards and `benchmarks/sentiment_baseline.py` run: TF-IDF + logistic
regression."""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline


def tfidf_logistic_regression(ngram_range=(1, 2)):
    """An unfitted pipeline of TF-IDF n-grams (min_df 2, max_df 0.9, sublinear tf) and logistic regression (C 4)."""
    return make_pipeline(
        TfidfVectorizer(ngram_range=ngram_range, min_df=2, max_df=0.9, sublinear_tf=True),
        LogisticRegression(C=4.0, max_iter=2000),
    )


def parameter_count(pipeline):
    """Weights and biases of the fitted pipeline's logistic regression."""
    classifier = pipeline[-1]
    return int(classifier.coef_.size + classifier.intercept_.size)


def texts_and_labels(dataset):
    """(texts, class ids) of a sentiment dataset (a model with the n-gram branch labels each of its
    outputs: the same class id)."""
    texts, labels = zip(*((t.decode("utf-8"), int(y["probabilities"] if isinstance(y, dict) else y))
                          for t, y in dataset.unbatch().as_numpy_iterator()))
    return texts, labels


def tfidf_accuracy(data):
    """(test accuracy, parameters) of TF-IDF + logistic regression fitted on `data.train`."""
    texts, labels = texts_and_labels(data.train)
    test_texts, test_labels = texts_and_labels(data.test)
    classifier = tfidf_logistic_regression().fit(texts, labels)
    return float(classifier.score(test_texts, test_labels)), parameter_count(classifier)
