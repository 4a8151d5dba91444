"""Hyperparameter tables: the one place each hyperparameter's default, type and help live.

A task lists its hyperparameters as `Hyperparameter` rows: the ones every task has
(`shared(...)`, with the task's own defaults) plus its own. From that table come
the task's config (`defaults`, `resolve`), its command-line flags (`add_arguments`,
each help ending in the default) and the check of every override.

    HYPERPARAMETERS = shared(epochs=4, batch_size=64, ...) + [
        Hyperparameter("vocabulary_size", 30000, int, "tokens kept, most frequent in train"),
    ]
"""

import argparse
import dataclasses
import math

from zoo.cell_names import SEQUENCE_MODELS

REQUIRED = object()  # a shared hyperparameter whose default each task must give
LARGEST_INTEGER = 2**31 - 1  # what TensorFlow's int32 counters hold; a larger integer setting is refused


# The ranges a value may take; each docstring ends the error message ("--dropout 1.5: must be ...").
def positive(value):
    """> 0"""
    return value > 0


def non_negative(value):
    """>= 0"""
    return value >= 0


def rate(value):
    """in [0, 1)"""
    return 0 <= value < 1


def share(value):
    """in (0, 1)"""
    return 0 < value < 1


def fraction(value):
    """in [0, 1]"""
    return 0 <= value <= 1


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    name: str  # the config key; the flag is --name-with-dashes
    default: object  # None: decided later (by the data, see `auto`)
    type: type = str  # int, float, str or bool
    help: str = ""
    auto: str = ""  # what a None default means, for the help text ("by data: ...")
    choices: tuple = None
    # numbers: a range above (`positive` unless said otherwise); texts: a function that raises a
    # ValueError naming the flag for a value it refuses (e.g. a list it cannot parse)
    check: object = None
    most: float = None  # the largest value a number may take (default for integers: LARGEST_INTEGER)

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    def default_text(self):
        if self.default is None:
            return self.auto or "none"
        if self.type is bool:
            return "on" if self.default else "off"
        return str(self.default)


# Every task has these; `shared()` fills in the task's defaults.
SHARED = (
    Hyperparameter("cell", "gru", str, "recurrent cell (or transformer / cnn: the baselines)",
                   choices=SEQUENCE_MODELS),
    Hyperparameter("data", None, str, "data source, per task (e.g. imdb, csv, synthetic)",
                   auto="the real data when --data-dir has it, else synthetic"),
    Hyperparameter("data_dir", None, str, "folder (or file) with the data for --data"),
    Hyperparameter("epochs", REQUIRED, int, "maximum epochs (early stopping on validation)", most=100_000),
    Hyperparameter("batch_size", REQUIRED, int, "examples per training step (the global batch)"),
    Hyperparameter("learning_rate", REQUIRED, float, "peak Adam learning rate (cosine decay)"),
    Hyperparameter("units", REQUIRED, int, "units per recurrent layer (per direction)"),
    Hyperparameter("num_layers", REQUIRED, int, "stacked recurrent layers"),
    Hyperparameter("bidirectional", REQUIRED, bool, "wrap each recurrent layer in Bidirectional"),
    Hyperparameter("dropout", REQUIRED, float, "dropout rate (where the task applies it)", check=rate),
    Hyperparameter("patience", REQUIRED, int, "epochs without improvement before early stopping",
                   check=non_negative),
    Hyperparameter("clipnorm", 1.0, float, "clip each step's gradients to this global norm"),
    Hyperparameter("seed", 0, int, "random seed for data order, weights, dropout", check=non_negative),
)


def shared(**defaults):
    """The shared rows with this task's defaults; every REQUIRED one must be given."""
    known = {row.name for row in SHARED}
    unknown = set(defaults) - known
    if unknown:
        raise ValueError(f"not shared hyperparameters: {sorted(unknown)}; shared: {sorted(known)}.")
    rows = [dataclasses.replace(row, default=defaults.get(row.name, row.default)) for row in SHARED]
    missing = [row.name for row in rows if row.default is REQUIRED]
    if missing:
        raise ValueError(f"a task must give defaults for {missing}.")
    return rows


# A task that can start from another task's encoder (`Task.encoder_from`) adds these: how a run that
# does fine-tunes it (ULMFiT's recipe, `zoo.optimizers`; a run from scratch ignores them).
# Defaults: one rate for every layer from the first step, which measured better than ULMFiT's 0.4 / 0.1 / 0.1
# for 2 epochs on IMDB (benchmarks/RESULTS.md, "Language model").
FINE_TUNING = (
    Hyperparameter("encoder_rate_factor", 1.0, float, "fine-tuning from an encoder: each pretrained layer "
                   "learns at this x the rate of the layer above it (discriminative rates; 1: one rate)",
                   most=1.0),
    Hyperparameter("unfreeze_fraction", 0.0, float, "fine-tuning from an encoder: share of the steps the new "
                   "layers train alone, and between each pretrained layer joining, top first (gradual "
                   "unfreezing; 0: all from the start)", check=rate),
    Hyperparameter("warmup_fraction", 0.0, float, "fine-tuning from an encoder: share of the steps the "
                   "learning rate rises from 0 to its peak, before the cosine decay", check=rate),
)


def fine_tuning():
    """The fine-tuning rows (`FINE_TUNING`), for a task with `encoder_from`."""
    return list(FINE_TUNING)


def defaults(table):
    return {row.name: row.default for row in table}


def resolve(table, owner, **overrides):
    """A new config: the table's defaults with the given non-None overrides, each checked.

    Raises ValueError naming the hyperparameter for an unknown name, a value of the
    wrong type or one outside its choices.
    """
    rows = {row.name: row for row in table}
    unknown = set(overrides) - set(rows)
    if unknown:
        raise ValueError(
            f"Unknown hyperparameter(s) {sorted(unknown)} for {owner}; known: {sorted(rows)}."
        )
    config = defaults(table)
    for name, value in overrides.items():
        if value is not None:
            config[name] = check_value(rows[name], value)
    return config


def check_value(row, value):
    """`value` as the row's type (an int is a float too), finite and in the row's range
    (numbers are `positive` unless the row says otherwise), a text as its check allows; ValueError
    naming the flag otherwise."""
    kind = row.type
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{row.flag} {value!r}: expected {kind.__name__}.")
    if row.choices and value not in row.choices:
        raise ValueError(f"{row.flag} {value!r}: choose one of {list(row.choices)}.")
    if kind is str and row.check:
        row.check(value)
    if kind in (int, float):
        if not math.isfinite(value):
            raise ValueError(f"{row.flag} {value!r}: must be a finite number.")
        check = row.check or positive
        if not check(value):
            raise ValueError(f"{row.flag} {value!r}: must be {check.__doc__}.")
        most = row.most if row.most is not None else (LARGEST_INTEGER if kind is int else None)
        if most is not None and value > most:
            raise ValueError(f"{row.flag} {value!r}: must be at most {most:,}.")
    return value


def add_arguments(parser, table, title=None):
    """One flag per row (default None, so only what the user sets overrides the table)."""
    group = parser.add_argument_group(title) if title else parser
    for row in table:
        help_text = f"{row.help} (default: {row.default_text()})".lstrip()
        if row.type is bool:
            group.add_argument(row.flag, action=argparse.BooleanOptionalAction, default=None,
                               help=help_text)
        else:
            group.add_argument(row.flag, type=row.type, default=None, choices=row.choices,
                               metavar=row.name.upper() if not row.choices else None, help=help_text)
    return parser


TYPE_NAMES = {int: "an integer", float: "a number", str: "a text"}


def parse_assignment(rows, text):
    """`(name, value)` of a `KEY=VALUE` text (`evaluate.py --set units=32`), the value of the
    row's type (bool: true/false, on/off, 1/0); ValueError naming the key or the value."""
    key, sep, raw = text.partition("=")
    name = key.strip().replace("-", "_")
    row = next((row for row in rows if row.name == name), None)
    if not sep or row is None:
        raise ValueError(f"--set {text}: give KEY=VALUE with KEY one of {sorted(row.name for row in rows)}.")
    if row.type is bool:
        words = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}
        if raw.strip().lower() not in words:
            raise ValueError(f"--set {text}: {name} is on or off (true/false).")
        return name, words[raw.strip().lower()]
    try:
        return name, row.type(raw.strip())
    except ValueError:
        raise ValueError(f"--set {text}: {name} takes {TYPE_NAMES.get(row.type, row.type.__name__)}, "
                         f"not {raw!r}.") from None
