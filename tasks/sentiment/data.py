"""Sentiment's files: IMDB (CSV, aclImdb folders or TFDS) and labelled CSV/TSV texts; errors name
the file, row and column."""

import pathlib
import random

from zoo.data import find_table, read_table

# --------------------------------------------------------- labelled text files

IMDB_CLASSES = ["negative", "positive"]  # label 0 / 1 in the IMDB files


def load_imdb(data_dir):
    """(train, test) lists of (text, class index, 1 = positive) from a local copy of IMDB, or TFDS."""
    if data_dir:
        data_dir = pathlib.Path(data_dir)
        if (data_dir / "aclImdb").is_dir():
            data_dir = data_dir / "aclImdb"
        if (data_dir / "train" / "pos").is_dir():
            return tuple(_read_aclimdb_split(data_dir / split) for split in ("train", "test"))
        return tuple(
            read_labelled_texts(find_table(data_dir, split), "text", "label", {"0": 0, "1": 1})
            for split in ("train", "test")
        )
    import tensorflow_datasets as tfds

    splits = tfds.load("imdb_reviews", split=["train", "test"], as_supervised=True)
    return tuple(
        [(text.decode("utf-8"), int(label)) for text, label in tfds.as_numpy(split)]
        for split in splits
    )


def imdb_is_available(data_dir):
    """True when IMDB can be read without a download (decides in well under a second)."""
    if data_dir:
        root = pathlib.Path(data_dir)
        if (root / "aclImdb").is_dir() or (root / "train" / "pos").is_dir():
            return True
        try:
            find_table(root, "train")
        except FileNotFoundError:
            return False
        return True
    try:
        import tensorflow_datasets as tfds

        return tfds.builder("imdb_reviews").is_prepared()
    except Exception:  # no TFDS, or not prepared: fall back to the offline corpus
        return False


def _read_aclimdb_split(folder):
    examples = []
    for index, name in enumerate(IMDB_CLASSES):
        for path in sorted((folder / name[:3]).glob("*.txt")):
            examples.append((path.read_text(encoding="utf-8"), index))
    if not examples:
        raise ValueError(f"{folder}: no pos/*.txt or neg/*.txt reviews.")
    random.Random(0).shuffle(examples)
    return examples


def read_labelled_texts(path, text_column, label_column, class_index, rows=None):
    """(text, class index) pairs; a label outside `class_index` names its row."""
    rows = read_table(path, [text_column, label_column]) if rows is None else rows
    examples = []
    for row_number, row in enumerate(rows, start=2):
        label = row[label_column].strip()
        if label not in class_index:
            raise ValueError(
                f"{path}, row {row_number}: label {label!r} in column {label_column!r} is "
                f"not one of the training labels {sorted(class_index)}."
            )
        examples.append((row[text_column], class_index[label]))
    return examples


def label_lookalikes(labels):
    """Groups of distinct labels that are likely one class: equal numbers ("1", "1.0"), or
    equal once lower-cased, or one a prefix of another of 3+ letters ("pos", "Positive")."""
    def key(label):
        try:
            return ("number", float(label))
        except ValueError:
            return ("text", label.casefold())

    groups = {}
    for label in sorted(labels):
        kind, value = key(label)
        match = next((g for g in groups if g[0] == kind and (g[1] == value or (
            kind == "text" and min(len(g[1]), len(value)) >= 3
            and (g[1].startswith(value) or value.startswith(g[1]))))), None)
        groups.setdefault(match or (kind, value), []).append(label)
    return [group for group in groups.values() if len(group) > 1]


def load_labelled_csv(data_dir, text_column, label_column):
    """(train, test, class names) from `data_dir/train.*` and `data_dir/test.*`."""
    if not data_dir:
        raise ValueError("--data csv needs --data-dir, a folder with train and test CSV/TSV files.")
    train_path, test_path = find_table(data_dir, "train"), find_table(data_dir, "test")
    train_rows = read_table(train_path, [text_column, label_column])
    labels = {row[label_column].strip() for row in train_rows}
    if "" in labels:
        raise ValueError(f"{train_path}: empty value in label column {label_column!r}.")
    if len(labels) < 2:
        raise ValueError(f"{train_path}: column {label_column!r} has one label {labels}; need two or more.")
    lookalikes = label_lookalikes(labels)
    if lookalikes:
        raise ValueError(
            f"{train_path}: labels in column {label_column!r} that look like one class written two ways: "
            + "; ".join(" and ".join(repr(label) for label in group) for group in lookalikes)
            + ". Write each class one way."
        )
    if not any(row[text_column].strip() for row in train_rows):
        raise ValueError(f"{train_path}: every text in column {text_column!r} is empty.")
    numeric = all(label.lstrip("-").isdigit() for label in labels)
    classes = sorted(labels, key=int if numeric else str)
    class_index = {label: index for index, label in enumerate(classes)}
    return (
        read_labelled_texts(train_path, text_column, label_column, class_index, train_rows),
        read_labelled_texts(test_path, text_column, label_column, class_index),
        classes,
    )
