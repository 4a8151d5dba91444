"""The grids: which tasks, cells, seeds and probes a run of `evaluate.py` covers, under equal budgets.

A `TaskSpec` is a registry task with overrides of its defaults (each of the task's
hyperparameter types); a `Grid` crosses its tasks with cells and seeds and adds the
long-range probes. The named grids are `GRIDS`: smoke (for tests), quick, medium,
greff, full, real and speakers; `custom_grid` makes one for the user's own data. A setting
`"{data_dir}/..."` is a folder under `--data-dir`.
"""

import dataclasses


@dataclasses.dataclass
class TaskSpec:
    """One task of a grid: a registry task with overrides, its metric and target."""

    name: str  # the row label, e.g. "sentiment-synthetic-2k"
    task: str  # registry name
    overrides: dict
    metric: str  # the headline test metric
    higher_is_better: bool
    target: tuple  # (history key, threshold): "epochs to target" is the first epoch reaching it
    family: str = None  # tasks of one family differ only in training-set size
    train_size: int = None
    time_budget: float = None  # seconds of training per run (`--budget-minutes`), instead of equal epochs
    folds: str = None  # the speaker-disjoint evaluation this spec is one fold of (the report averages its folds)


@dataclasses.dataclass
class Grid:
    tasks: list
    cells: list  # at equal units; "gru" and "lstm" must be among them for the comparisons
    seeds: list
    probe_cells: list
    probe_lengths: list  # T for the adding and copy problems, shortest first
    probe_steps: int  # the training budget at every T: batches of 32 new examples
    probe_units: int = 32
    copied: int = 3  # symbols to recall in copy memory
    gradient_length: int = 50  # T of the gradient-norm measurement
    latency_lengths: tuple = (50, 100, 200, 500, 1000)
    latency_cells: list = None  # whole sequence vs streamed step, and state memory; None: probe_cells
    probe_forget_biases: tuple = ()  # LSTM forget-gate biases also tried on the probes (default: 1)
    matched: bool = True  # also run the parameter-matched GRU

    def probe_variants(self):
        """(row label, cell, forget bias or None) of every probe model: probe_cells, then the LSTM's biases."""
        return [(cell, cell, None) for cell in self.probe_cells] + [
            (forget_bias_label(b), "lstm", b) for b in self.probe_forget_biases]


FORGET_BIAS_LABEL = "lstm_forget_bias_"  # + the bias: the probe rows' label of an LSTM with another forget-gate bias


def forget_bias_label(forget_bias):
    """The probe rows' cell label of an LSTM whose forget-gate bias starts at `forget_bias`."""
    return f"{FORGET_BIAS_LABEL}{forget_bias:g}"


def sentiment(name, size, data="synthetic", target=0.75, **overrides):
    return TaskSpec(
        name, "sentiment", {"data": data, "ngrams": 0, **overrides}, "test_accuracy", True, ("val_accuracy", target),
        family=f"sentiment-{data}", train_size=size,
    )


def forecasting(name, target, **overrides):
    return TaskSpec(name, "forecasting", overrides, "owa", False, ("val_loss", target))


# Small models, small data, few epochs: equal budgets, not tuned to any cell.
# The synthetic corpus sits at chance for ~3 epochs before the order cue is found,
# so the quick grid trains 6 epochs without early stopping.
QUICK_SENTIMENT = dict(
    sequence_length=60, vocabulary_size=2000, embedding_dim=32, units=32, bidirectional=False,
    epochs=6, patience=6, learning_rate=5e-3, batch_size=64, synthetic_test_size=1000,
)
QUICK_FORECASTING = dict(
    data="synthetic", synthetic_series=60, units=24, num_layers=1, epochs=3, steps_per_epoch=25,
    batch_size=64,
)
GREFF = [
    "lstm_peephole", "lstm_nig", "lstm_nfg", "lstm_nog", "lstm_niaf", "lstm_noaf", "lstm_cifg", "lstm_fgr",
]

# The real data with reduced budgets (IMDB cut to 200 tokens, one-layer models), shared
# by the grids that run them so their rows are the same runs.
MEDIUM_TASKS = [
    sentiment("sentiment-imdb-5k", 5000, data="imdb", target=0.8, train_subset=5000, sequence_length=200,
              units=32, epochs=3, bidirectional=False),
    sentiment("sentiment-imdb-22k", 22500, data="imdb", target=0.8, sequence_length=200, units=32,
              epochs=3, bidirectional=False),
    forecasting("forecasting-m4-hourly", 0.08, data="m4", units=64, num_layers=1, epochs=10),
]
# Streaming (unidirectional) digit strings, FSDD split by take, a reduced budget; greedy decoding.
CTC_FSDD = TaskSpec(
    "ctc-fsdd", "ctc_speech",
    {"data": "fsdd", "bidirectional": False, "units": 64, "epochs": 12, "train_utterances": 1200,
     "validation_utterances": 320, "test_utterances": 300, "beam_width": 1},
    "cer", False, ("val_cer", 0.1),
)

# Speaker-disjoint evaluation, the harness's standard for speech: each fold holds some voices out of
# training and tests on them; the report gives every fold and their mean.
FSDD_SPEAKERS = ("george", "jackson", "nicolas", "theo")
SPEECH_COMMANDS_FOLDS = 5  # the task's --speech-commands-folds
SPEAKER_BUDGET = {"data": "fsdd", "bidirectional": False, "units": 64, "epochs": 12, "train_utterances": 1200,
                  "validation_utterances": 320, "test_utterances": 300, "beam_width": 1}


def speaker_folds(folds, metric, higher_is_better, setting, values, **overrides):
    """One `TaskSpec` of the speech task per fold `<folds>-<value>`, holding out the voices `setting`=value names."""
    return [TaskSpec(f"{folds}-{value}", "ctc_speech", {**overrides, setting: value}, metric, higher_is_better,
                     ("val_cer", 0.1), folds=folds) for value in values]


SPEAKER_FOLDS = [
    # Speech Commands' 96 voices in 5 folds, FSDD's 4 beside them; isolated digits of the fold's voices
    *speaker_folds("ctc-speech-commands", "isolated_accuracy", True, "speech_commands_fold",
                   [str(k) for k in range(SPEECH_COMMANDS_FOLDS)],
                   speech_commands_dir="{data_dir}/speech_commands_digits", **SPEAKER_BUDGET),
    # FSDD leave one speaker out: digit strings of the speaker no take of which trained
    *speaker_folds("ctc-fsdd-loso", "cer", False, "test_speakers", FSDD_SPEAKERS, **SPEAKER_BUDGET),
]

GRIDS = {
    # For tests: one tiny task, two seeds, two probe lengths; about a minute.
    "smoke": Grid(
        tasks=[forecasting("forecasting-tiny", 0.2, data="synthetic", synthetic_series=12, units=8,
                           num_layers=1, epochs=2, steps_per_epoch=3, batch_size=16)],
        cells=["gru", "lstm", "rnn"], seeds=[0, 1], probe_cells=["gru", "lstm"],
        probe_lengths=[10, 20], probe_steps=5, probe_units=8, copied=2, gradient_length=10,
        latency_lengths=(10, 40), latency_cells=["gru", "lstm", "transformer"],
    ),
    "quick": Grid(
        tasks=[
            sentiment("sentiment-synthetic-2k", 1800, target=0.9, synthetic_train_size=2000, **QUICK_SENTIMENT),
            sentiment("sentiment-synthetic-6k", 5400, target=0.9, synthetic_train_size=6000, **QUICK_SENTIMENT),
            forecasting("forecasting-synthetic", 0.12, **QUICK_FORECASTING),
        ],
        cells=["gru", "lstm", "rnn", "transformer", "cnn"], seeds=[0, 1, 2], probe_cells=["gru", "lstm", "rnn"],
        probe_lengths=[50, 100], probe_steps=600, gradient_length=50,
        latency_cells=["gru", "lstm", "rnn", "transformer", "cnn"],
    ),
    # The real data with reduced budgets: IMDB cut to 200 tokens, M4 Hourly, 3 seeds.
    "medium": Grid(
        tasks=MEDIUM_TASKS, cells=["gru", "lstm", "rnn"], seeds=[0, 1, 2],
        probe_cells=["gru", "lstm", "rnn", "lstm_cifg"], probe_lengths=[50, 100, 200], probe_steps=1000,
    ),
    # Greff et al. 2016's LSTM variants beside GRU/LSTM: IMDB 5k at the medium budget and
    # the probes (about 30 min).
    "greff": Grid(
        tasks=MEDIUM_TASKS[:1],
        cells=["gru", "lstm", "rnn", *GREFF], seeds=[0, 1, 2], probe_cells=["gru", "lstm", "rnn", *GREFF],
        probe_lengths=[50, 100, 200], probe_steps=1000, matched=False,
    ),
    # The three real datasets: medium's tasks plus streaming CTC on FSDD, both GRU forms and
    # the coupled-gate LSTM beside medium's cells, the probes up to T=1000 (about an hour
    # with medium's runs reused: --reuse results/medium).
    "full": Grid(
        tasks=[CTC_FSDD, *MEDIUM_TASKS], cells=["gru", "gru_reset_before", "lstm", "lstm_cifg", "rnn"],
        seeds=[0, 1, 2], probe_cells=["gru", "gru_reset_before", "lstm", "lstm_cifg", "rnn"],
        probe_lengths=[50, 100, 200, 500, 1000], probe_steps=1000,
    ),
    # The real data at the tasks' own settings (those of the shipped models), where the recurrent
    # models can beat the baselines: IMDB's whole training set read to 400 tokens by a BiGRU/BiLSTM
    # 64 (the task's defaults), M4 Hourly's 2 x 128 forecaster for at most its 30 epochs or 5
    # minutes, whichever ends first; and the probes with the LSTM's forget-gate bias also at 5
    # (with --reuse results/full, GRU's and LSTM's probe rows at bias 1 are full's).
    "real": Grid(
        tasks=[
            sentiment("sentiment-imdb-full", 22500, data="imdb", target=0.85),
            dataclasses.replace(forecasting("forecasting-m4-hourly-full", 0.08, data="m4"), time_budget=300),
        ],
        cells=["gru", "lstm"], seeds=[0, 1, 2], probe_cells=["gru", "lstm"],
        probe_lengths=[50, 100, 200, 500, 1000], probe_steps=1000, probe_forget_biases=(5.0,), latency_lengths=(),
        matched=False,
    ),
    # Speech on voices it never heard (#31): every fold of SPEAKER_FOLDS, GRU and LSTM, 3 seeds (54 runs,
    # about 5 min each here; an interrupted grid continues where it stopped).
    "speakers": Grid(
        tasks=SPEAKER_FOLDS, cells=["gru", "lstm"], seeds=[0, 1, 2], probe_cells=[], probe_lengths=[],
        probe_steps=0, latency_lengths=(), matched=False,
    ),
}
# Folders under --data-dir holding each task's data in the real-data grids.
DATA_FOLDERS = {"imdb": "imdb", "m4": "m4_hourly", "fsdd": "fsdd"}


CUSTOM_SPECS = {}  # name -> TaskSpec of the grids `custom_grid` made in this process


def find_spec(name):
    """The task spec named `name` in any grid (specs shared between grids are the same object)."""
    if name in CUSTOM_SPECS:
        return CUSTOM_SPECS[name]
    return next(spec for grid in GRIDS.values() for spec in grid.tasks if spec.name == name)


CUSTOM_CELLS = ("gru", "lstm", "rnn")
CUSTOM_SEEDS = 3  # seeds per cell of a comparison on the user's data


BUDGET_EPOCHS = 1000  # the epoch cap of a run with a time budget (early stopping still applies)


def custom_grid(task, data, data_dir, cells=CUSTOM_CELLS, seeds=CUSTOM_SEEDS, overrides=None, budget_minutes=None):
    """A grid of one task on the user's data (`evaluate.py --task T --data SOURCE --data-dir DIR`):
    the task's loader for `data`, its defaults with its `comparison` overrides (and `overrides`),
    `cells` at equal units and `seeds` seeds, scored on the task's headline `metric` beside its
    baselines, and no probes (they use no data). `budget_minutes`: every run trains that long (up
    to `BUDGET_EPOCHS`, or the epochs in `overrides`). Any registered task can be compared."""
    from zoo.builders import SEQUENCE_MODELS
    from zoo.task import get_task, list_tasks

    if task not in list_tasks():
        raise ValueError(f"--task {task}: choose one of {list_tasks()}.")
    registered = get_task(task)
    if registered.metric is None:
        raise ValueError(f"--task {task}: the task declares no headline metric (Task.metric) to compare cells on.")
    unknown = [cell for cell in cells if cell not in SEQUENCE_MODELS]
    if unknown:
        raise ValueError(f"--cells: {', '.join(unknown)} is not a cell; choose from {list(SEQUENCE_MODELS)}.")
    repeated = sorted({cell for cell in cells if list(cells).count(cell) > 1})
    if repeated:  # each would train every seed again and count its seeds twice
        raise ValueError(f"--cells {','.join(cells)}: {', '.join(repeated)} given more than once; give each cell once.")
    if seeds < 1:
        raise ValueError(f"--seeds {seeds}: give at least 1.")
    if budget_minutes is not None:
        from zoo.training import check_time_budget

        check_time_budget(60 * budget_minutes)
    metric = registered.metric
    defaults = dict(registered.comparison)
    if budget_minutes:
        defaults["epochs"] = BUDGET_EPOCHS
    spec = TaskSpec(f"{task}-{data}", task, {"data": data, "data_dir": data_dir, **defaults, **(overrides or {})},
                    metric.name, metric.higher_is_better, metric.target or ("", None),
                    time_budget=budget_minutes and 60 * budget_minutes)
    CUSTOM_SPECS[spec.name] = spec
    return Grid(tasks=[spec], cells=list(cells), seeds=list(range(seeds)), probe_cells=[], probe_lengths=[],
                probe_steps=0, latency_lengths=(), matched="gru" in cells and "lstm" in cells)
