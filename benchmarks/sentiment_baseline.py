"""Bag-of-n-grams baseline for the sentiment task: TF-IDF + logistic regression.

    python benchmarks/sentiment_baseline.py --data synthetic
    python benchmarks/sentiment_baseline.py --data imdb --data-dir ../shared/data/imdb

Trains on the whole train split (the RNN holds 10% of it out for validation) and
prints test accuracy for unigrams and for uni+bigrams.
"""

import argparse
import os
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tasks.sentiment import SentimentTask, load_csv, load_imdb, synthetic_corpus  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=["synthetic", "imdb", "csv"], default="synthetic")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    defaults = SentimentTask.defaults
    if args.data == "synthetic":
        train, test = synthetic_corpus(
            defaults["synthetic_train_size"], defaults["synthetic_test_size"], defaults["seed"]
        )
    elif args.data == "imdb":
        train, test = load_imdb(args.data_dir)
    else:
        train, test, _ = load_csv(args.data_dir, "text", "label")
    texts, labels = zip(*train)
    test_texts, test_labels = zip(*test)
    for ngrams in ((1, 1), (1, 2)):
        start = time.perf_counter()
        vectorizer = TfidfVectorizer(ngram_range=ngrams, min_df=2, max_df=0.9, sublinear_tf=True)
        features = vectorizer.fit_transform(texts)
        classifier = LogisticRegression(C=4.0, max_iter=2000).fit(features, labels)
        accuracy = classifier.score(vectorizer.transform(test_texts), test_labels)
        print(
            f"{args.data}: TF-IDF {ngrams[0]}-{ngrams[1]}-grams + logistic regression: "
            f"test accuracy {accuracy:.4f} ({len(texts)} train, {len(test_texts)} test, "
            f"{time.perf_counter() - start:.0f} s)"
        )


if __name__ == "__main__":
    main()
