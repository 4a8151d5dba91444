"""The speech task's splits and batches: utterances composed from digit clips (FSDD, synthetic
voices) or read from a transcribed WAV folder, batched by length to cut padding."""

import itertools
import math

import numpy as np
import tensorflow as tf

from tasks.ctc_speech.data import (
    Utterance,
    fsdd_every_take,
    load_fsdd,
    load_speech_commands,
    load_transcribed_wavs,
    speaker_folds,
    split_fsdd,
)
from tasks.ctc_speech.front_end import FRAME_STEP
from tasks.ctc_speech.utterances import (
    SAMPLE_RATE,
    SILENT_DBFS,
    ClipPool,
    MixedSpeakers,
    RecordedSpeakers,
    SynthesisedSpeakers,
    SyntheticSpeakers,
    random_utterance,
)

HELD_OUT_VOICES = 50  # synthetic voices that validate (never train) a model trained with synthetic voices

# ---------------------------------------------------------------------- splits


def wav_folder_splits(config, rng):
    """--data wavs: the train.csv rows less a validation fraction, shuffled each epoch; test.csv."""
    train, test = load_transcribed_wavs(
        config["data_dir"], config["alphabet"], config["max_seconds"], config["subsampling"],
        sample_rate=SAMPLE_RATE, frame_step=FRAME_STEP,
    )
    train = [train[i] for i in rng.permutation(len(train))]
    cut = max(1, int(len(train) * config["validation_fraction"]))
    validation, train = train[:cut], train[cut:]
    if not train:
        raise ValueError(f"{config['data_dir']}: train.csv has too few rows to keep a validation split.")
    description = (
        f"ctc_speech data: WAV files from {config['data_dir']}, {len(train)} train / "
        f"{len(validation)} validation / {len(test)} test utterances"
    )

    def shuffled():
        return [train[i] for i in rng.permutation(len(train))]

    return shuffled, len(train), validation, test, description, {}, {}


def _names(text):
    """The names of a comma-separated setting (`--test-speakers a,b`), none for an empty one."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def composed_splits(config, source, rng):
    """--data fsdd or synthetic: utterances composed from digit clips, training ones anew each epoch."""
    voices = config["synthetic_voices"]
    synthesis_alone = bool(voices) and config["synthetic_share"] == 1  # no recording trains or validates
    if voices and source != "fsdd":
        raise ValueError(f"--synthetic-voices adds voices to the recorded ones: it is for --data fsdd, "
                         f"not --data {source}.")
    if source == "fsdd":
        held_out = _names(config["test_speakers"])
        recorded = load_fsdd(config["data_dir"], SAMPLE_RATE)
        if synthesis_alone:
            clips = [[], [], fsdd_every_take(recorded, held_out)]
            takes = "-/-/all"
        else:
            clips = split_fsdd(recorded, held_out)
            takes = "8-49/5-7/all" if held_out else "8-49/5-7/0-4"
        train_speakers, validation_speakers, test_speakers = (RecordedSpeakers(c) if c else None for c in clips)
        for speakers in (train_speakers, validation_speakers, test_speakers):
            _notice_silent(speakers, "FSDD")
        info = {
            "train_speakers": train_speakers.speakers if train_speakers else [],
            "test_speakers": test_speakers.speakers,
            "clips": [len(c) for c in clips],
        }
        what = (
            f"FSDD, {'/'.join(str(len(c)) for c in clips)} train/validation/test clips (takes {takes}), "
            f"train speakers {info['train_speakers']}, test speakers {test_speakers.speakers}"
        )
    else:
        train_speakers = validation_speakers = test_speakers = SyntheticSpeakers()
        info, what = {}, "synthetic digits, a new random voice per utterance"
    if voices:
        variants = _names(config["tts_variants"])
        synthesised = SynthesisedSpeakers(voices, config["seed"], config["tts"], variants)
        info["synthetic_voices"] = {"count": voices, "engine": synthesised.engine, "share": config["synthetic_share"]}
        # Validated on other synthetic voices, never trained on: for voices it never heard.
        unheard = SynthesisedSpeakers(HELD_OUT_VOICES, config["seed"], config["tts"], variants, held_out=True)
        if synthesis_alone:  # so no real voice picks the epoch
            train_speakers, validation_speakers = synthesised, unheard
            what += (f"; training only by {voices} synthetic voices ({synthesised.engine}), validation by "
                     f"{HELD_OUT_VOICES} others")
        else:
            share = config["synthetic_share"]
            train_speakers = MixedSpeakers(train_speakers, synthesised, share)
            validation_speakers = MixedSpeakers(validation_speakers, unheard, share)
            what += (f"; training also by {voices} synthetic voices ({synthesised.engine}), {share:.0%} of its "
                     f"utterances, validation by {HELD_OUT_VOICES} others in the same share")
    reference = {}
    if config["speech_commands_dir"]:
        train_speakers, what, info["speech_commands"], reference["isolated"] = _with_speech_commands(
            config, source, train_speakers, what)
    max_digits, size = config["max_digits"], config["train_utterances"]
    # Validation and test sets are the same in every run with this seed.
    fixed = np.random.default_rng([config["seed"], 1]), np.random.default_rng([config["seed"], 2])
    validation = [
        random_utterance(validation_speakers, fixed[0], max_digits)
        for _ in range(config["validation_utterances"])
    ]
    test = [random_utterance(test_speakers, fixed[1], max_digits) for _ in range(config["test_utterances"])]

    def train():
        return (random_utterance(train_speakers, rng, max_digits, config["augment"], config["channel_share"])
                for _ in range(size))

    description = (
        f"ctc_speech data: {what}; utterances of 1-{max_digits} digits, {size} train "
        f"(composed anew each epoch) / {len(validation)} validation / {len(test)} test"
    )
    return train, size, validation, test, description, info, reference


def _notice_silent(pool, corpus):
    """Names the clips of a pool (`RecordedSpeakers`, `ClipPool`) that hold no word and so are left out."""
    if pool and pool.silent:
        names = ", ".join(f"{c.digit}_{c.speaker}_{c.take}.wav" for c in pool.silent)
        print(f"Notice: {len(pool.silent)} {corpus} clip(s) hold no word (empty, or quieter than "
              f"{SILENT_DBFS:g} dBFS) and are left out: {names}.")


def _with_speech_commands(config, source, train_speakers, what):
    """(training speakers with the Speech Commands voices mixed in, the description, their info, the
    held-out fold's clips as isolated-digit `Utterance`s, as recorded)."""
    if source != "fsdd":
        raise ValueError(f"--speech-commands-dir adds voices to FSDD's: it is for --data fsdd, not --data {source}.")
    fold_text = config["speech_commands_fold"].strip().lower()
    if fold_text != "none" and not fold_text.isdigit():
        raise ValueError(f"--speech-commands-fold {config['speech_commands_fold']!r}: give a fold number or none.")
    fold = None if fold_text == "none" else int(fold_text)
    clips = load_speech_commands(config["speech_commands_dir"], SAMPLE_RATE)
    training, held_out = speaker_folds(clips, config["speech_commands_folds"], fold)
    pool = ClipPool(training)
    _notice_silent(pool, "Speech Commands")
    missing = sorted(set(range(10)) - set(pool.digits()))
    if missing:
        raise ValueError(f"--speech-commands-fold {fold}: the other folds say no digit {missing}; "
                         "give fewer --speech-commands-folds.")
    share = config["speech_commands_share"]
    isolated = [Utterance(clip.samples, np.array([clip.digit], "int32")) for clip in held_out]
    info = {"train_speakers": len(pool.speakers), "train_clips": len(training) - len(pool.silent), "share": share,
            "fold": fold, "folds": config["speech_commands_folds"],
            "test_speakers": len({clip.speaker for clip in held_out}), "test_clips": len(held_out)}
    what += (f"; training also by {len(pool.speakers)} Speech Commands voices ({info['train_clips']} clips), {share:.0%} of "
             f"its utterances" + (f"; isolated-digit test: fold {fold} of {config['speech_commands_folds']}, "
                                  f"{info['test_speakers']} other voices, {len(held_out)} clips" if held_out else ""))
    return MixedSpeakers(train_speakers, pool, share), what, info, isolated


# ---------------------------------------------------------------- batching

WINDOW_BATCHES = 16  # batches of utterances sorted by length together, to cut padding


def _pad_batch(utterances):
    width = max(len(u.waveform) for u in utterances)
    label_width = max(1, *(len(u.labels) for u in utterances))
    waveform = np.zeros((len(utterances), width), "float32")
    labels = np.full((len(utterances), label_width), -1, "int32")  # -1: padding, never a symbol
    for row, utterance in enumerate(utterances):
        waveform[row, : len(utterance.waveform)] = utterance.waveform
        labels[row, : len(utterance.labels)] = utterance.labels
    lengths = np.array([len(u.waveform) for u in utterances], "int32")
    return {"waveform": waveform, "length": lengths}, labels


def utterance_dataset(utterances, count, batch_size, rng=None):
    """Batches of the `count` utterances `utterances()` yields, grouped by length.

    `utterances` is called once per pass (epoch), so a generator of fresh random
    compositions gives new data every epoch; with `rng` the batch order is shuffled.
    """

    def batches():
        stream = iter(utterances())
        while window := list(itertools.islice(stream, WINDOW_BATCHES * batch_size)):
            window.sort(key=lambda u: len(u.waveform))
            group = [window[i : i + batch_size] for i in range(0, len(window), batch_size)]
            if rng is not None:
                rng.shuffle(group)
            for batch in group:
                yield _pad_batch(batch)

    signature = (
        {
            "waveform": tf.TensorSpec([None, None], tf.float32),
            "length": tf.TensorSpec([None], tf.int32),
        },
        tf.TensorSpec([None, None], tf.int32),
    )
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(math.ceil(count / batch_size))).prefetch(2)


