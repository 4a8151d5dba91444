"""The card facts of the zoo's shipped sentiment models (`benchmarks/build_zoo.py` renders them with
`zoo.cards`): data, licence, split, architecture, the branches and the TF-IDF baseline, what not to use it for."""

from tasks.sentiment.baselines import tfidf_accuracy
from zoo import cards


def card_facts(recipe, config, data, metrics):
    tfidf, _ = tfidf_accuracy(data)
    train_size, validation_size, test_size = data.info["sizes"]
    reader = ("Bi" if config["bidirectional"] else "") + recipe.cell.upper()
    parent = recipe.parent  # the language model whose encoder it was fine-tuned from, if any
    schedule = (f"each pretrained layer at {config['encoder_rate_factor']:g} × the rate above it, joining after "
                f"{config['unfreeze_fraction']:.0%} of the steps a layer, {config['warmup_fraction']:.0%} warm-up"
                if (config["encoder_rate_factor"], config["unfreeze_fraction"], config["warmup_fraction"]) != (1, 0, 0)
                else "every layer at one rate from the first step")
    started = f", its words, embedding and {reader} fine-tuned from the language model `{parent}` ({schedule})" \
        if parent else ""
    facts = {
        "summary": f"English movie-review sentiment: raw text in, negative/positive out. A "
                   f"{'bidirectional ' if config['bidirectional'] else ''}{recipe.cell.upper()} read of the words "
                   f"mixed with a bag of 1-{config['ngrams']}-grams (NB-weighted logistic regression), trained on "
                   f"IMDB{started}.",
        "task_line": "sentiment (`tasks/sentiment/`): raw text in, class probabilities out",
        "data": [
            ("data", "IMDB Large Movie Review Dataset v1.0 (Maas et al., ACL 2011), official split"),
            ("licence", "none stated by the authors (research use, citation requested)"),
            ("split", f"train {train_size:,} / validation {validation_size:,} (10% of train, seed "
                      f"{config['seed']}) / test {test_size:,} reviews, balanced"),
        ],
        "architecture": f"TextVectorization ({config['vocabulary_size']:,} words, {config['sequence_length']} "
                        f"tokens) → embedding {config['embedding_dim']} → {reader} {config['units']} → "
                        f"mean+max pooling → softmax; beside it TextVectorization of 1-{config['ngrams']}-grams "
                        f"({config['ngram_vocabulary_size']:,}) → NB logistic regression; the mixture weight "
                        f"({metrics['mixture_weight_recurrent']:.2f} recurrent) fitted on validation",
        "baseline_header": ("model", "test accuracy"),
        "baselines": [
            ("this model (mixture)", cards.format_metric(metrics["test_accuracy"])),
            (f"its {reader} branch alone", cards.format_metric(metrics["test_accuracy_recurrent"])),
            ("its n-gram branch alone", cards.format_metric(metrics["test_accuracy_ngrams"])),
            ("TF-IDF 1-2-grams + logistic regression (`tasks.sentiment.baselines`), same train split",
             cards.format_metric(tfidf)),
        ],
        "not_for": [
            "Other languages: the vocabulary is English words and n-grams of IMDB reviews.",
            "Other domains (product reviews, tweets, support tickets): measured only on IMDB movie "
            "reviews; fine-tune it on your data (`train.py --init-from`) and measure.",
            "Neutral or mixed text: it has two classes only; a neutral text still gets one of them.",
            f"Texts beyond {config['sequence_length']} tokens: the recurrent branch reads the first "
            f"{config['sequence_length']} (the n-gram branch reads all).",
        ],
        "picture": "figure.png",
        "picture_caption": "ROC and calibration on the IMDB test set",
        "examples": {"serving_default": {"text": ["a fine film, if a little long", "a dull, lifeless script"]}},
    }
    if parent:
        facts["parent"] = f"`{parent}`"
    return facts
