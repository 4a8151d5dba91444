"""The card facts of the zoo's shipped language models (`benchmarks/build_zoo.py` renders them with
`zoo.cards`): data, split, architecture, tokens seen, the Kneser-Ney baseline, what not to use it for."""

from zoo import cards


def card_facts(task, recipe, config, data, metrics):
    kneser_ney, stored, _ = task.baseline("kneser_ney", config, data)
    train_size, validation_size, test_size = data.info["sizes"]
    words = data.info["words"]
    seen = words["train"] * metrics["epochs_trained"]
    cell = recipe.cell.upper()
    return {
        "summary": f"An English word-level {cell} language model of movie reviews: raw text in, the next "
                   "word's probabilities out, a text's log-probability, and a one-word streaming step (state "
                   "in and out). Its embedding and recurrent layer are the encoder the sentiment models "
                   "fine-tune from (`train.py --task sentiment --init-from " + recipe.name + "`).",
        "task_line": "language_model (`tasks/language_model/`): raw text in, next-word probabilities out",
        "data": [
            ("data", "IMDB Large Movie Review Dataset v1.0 (Maas et al., ACL 2011): the 25,000 train and 50,000 "
                     "unlabelled reviews, without the 393 that are also test reviews; never the test reviews"),
            ("licence", "none stated by the authors (research use, citation requested)"),
            ("split", f"train {train_size:,} / validation {validation_size:,} / test {test_size:,} reviews "
                      f"(held out at random, seed {config['seed']}); {words['train']:,} train words"),
            ("words seen", f"{seen:,} ({metrics['epochs_trained']} passes), {seen / metrics['train_seconds']:,.0f} "
                           "words/s with validation (2 CPU cores)"),
        ],
        "architecture": f"TextVectorization ({data.info['vocabulary_size']:,} words) → tied embedding "
                        f"{config['embedding_dim']} (word dropout {config['word_dropout']}) → {cell} "
                        f"{config['units']} × {config['num_layers']} (DropConnect {config['weight_dropout']} on the "
                        f"recurrent kernel) → projection {config['embedding_dim']} → the embedding reversed, "
                        f"softmax (sampled, {config['num_sampled']} words, in training; exact otherwise); "
                        f"{config['window_length']}-word windows",
        "baseline_header": ("model", "test perplexity"),
        "baselines": [
            ("this model", cards.format_metric(metrics["test_perplexity"])),
            (f"interpolated Kneser-Ney {config['kneser_ney_order']}-gram (`tasks.language_model.kneser_ney`), "
             f"same words and vocabulary, {stored:,} n-grams", cards.format_metric(kneser_ney)),
        ],
        "not_for": [
            "Other languages, or text unlike reviews: its words are IMDB's most frequent "
            f"{data.info['vocabulary_size']:,}; any other word is [UNK] (the test words: "
            f"{metrics['test_unknown_share']:.1%} [UNK]).",
            "Generating text for people to read: a small model of one domain, it repeats itself and "
            "carries the reviews' opinions and biases.",
            "Case, punctuation or numbers as written: it sees lower-case words without punctuation.",
        ],
        "picture": "figure.png",
        "picture_caption": "its likeliest next words after three prompts",
        "examples": {"serving_default": {"text": ["this movie was", "the acting is"]},
                     "score": {"text": ["a fine film with a dull ending"]}},
    }
