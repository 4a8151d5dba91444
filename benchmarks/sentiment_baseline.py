"""Bag-of-n-grams baselines for the sentiment task: TF-IDF + logistic regression, and NBSVM.

    python benchmarks/sentiment_baseline.py --data synthetic
    python benchmarks/sentiment_baseline.py --data imdb --data-dir ../shared/data/imdb

Trains on the whole train split (the RNN holds 10% of it out for validation) and
prints test accuracy for TF-IDF unigrams and uni+bigrams, and for NB-weighted logistic
regression on binary 1-3-grams (Wang & Manning 2012), a scikit-learn reference for the
sentiment model's n-gram branch (`zoo.ngrams`).
"""

import argparse
import time

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from tasks.sentiment.baselines import tfidf_logistic_regression
from tasks.sentiment.data import load_imdb, load_labelled_csv
from tasks.sentiment.synthetic import synthetic_corpus
from zoo.task import get_task


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=["synthetic", "imdb", "csv"], default="synthetic")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    defaults = get_task("sentiment").defaults
    if args.data == "synthetic":
        train, test = synthetic_corpus(
            defaults["synthetic_train_size"], defaults["synthetic_test_size"], defaults["seed"]
        )
    elif args.data == "imdb":
        train, test = load_imdb(args.data_dir)
    else:
        train, test, _ = load_labelled_csv(args.data_dir, "text", "label")
    texts, labels = zip(*train)
    test_texts, test_labels = zip(*test)
    for ngrams in ((1, 1), (1, 2)):
        start = time.perf_counter()
        accuracy = tfidf_logistic_regression(ngrams).fit(texts, labels).score(test_texts, test_labels)
        print(
            f"{args.data}: TF-IDF {ngrams[0]}-{ngrams[1]}-grams + logistic regression: "
            f"test accuracy {accuracy:.4f} ({len(texts)} train, {len(test_texts)} test, "
            f"{time.perf_counter() - start:.0f} s)"
        )

    start = time.perf_counter()
    vectorizer = CountVectorizer(ngram_range=(1, 3), min_df=2, binary=True, token_pattern=r"(?u)\b\w+\b")
    features, labels = vectorizer.fit_transform(texts), np.asarray(labels)
    p, q = 1.0 + features[labels == 1].sum(0), 1.0 + features[labels != 1].sum(0)
    ratios = sparse.diags(np.asarray(np.log(p / p.sum()) - np.log(q / q.sum())).ravel())
    classifier = LogisticRegression(C=0.3, solver="liblinear", dual=True, max_iter=1000)
    classifier.fit(features @ ratios, labels)
    accuracy = classifier.score(vectorizer.transform(test_texts) @ ratios, test_labels)
    print(
        f"{args.data}: NB-weighted logistic regression, binary 1-3-grams: test accuracy {accuracy:.4f} "
        f"({features.shape[1]} n-grams, {time.perf_counter() - start:.0f} s)"
    )


if __name__ == "__main__":
    main()
