"""The card facts of the zoo's shipped speech models (`benchmarks/build_zoo.py` renders them with `zoo.cards`):
FSDD's data and split, the synthetic and Speech Commands voices, the architecture, the CER by take and on
voices it never heard (benchmarks/ctc_speech.csv: FSDD leave-one-speaker-out, Speech Commands speaker folds),
and the streamed `step` measured against `serving_default`."""

import csv
import pathlib
import shlex

import numpy as np
import tensorflow as tf

from tasks.ctc_speech.ctc import ctc_decode

# benchmarks/ctc_speech.py's rows: the speaker-disjoint figures a recipe's card quotes
UNSEEN_VOICE_ROWS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "ctc_speech.csv"
FOLD_FLAG = "--speech-commands-fold"  # a shipped model trains on every fold ("none"); its fold runs hold one out


def recipe_flags(flags):
    """A shipped model's flags as its benchmark runs give them: without the Speech Commands fold it trains on."""
    kept, rest = [], iter(flags)
    for flag in rest:
        if flag == FOLD_FLAG:
            next(rest, None)  # and its value
        else:
            kept.append(flag)
    return kept


def _rows_of(flags, prefix, path):
    """{name without `prefix`: row} of the newest rows of `path` named `prefix`... trained with `flags` (the
    GRU's: benchmarks/ctc_speech.py runs the task's default cell)."""
    found, trained_with = {}, f" {shlex.join(recipe_flags(flags))} --data-dir "
    with path.open() as handle:
        for row in csv.DictReader(handle):
            if row["name"].startswith(prefix) and trained_with in row["command"] + " ":
                found[row["name"].removeprefix(prefix)] = row
    return dict(sorted(found.items()))


def unseen_voice_figures(flags, path=UNSEEN_VOICE_ROWS):
    """{speaker: CER} of the newest FSDD leave-one-speaker-out rows of `path` trained with `flags`."""
    return {speaker: float(row["cer"]) for speaker, row in _rows_of(flags, "loso-", path).items()}


def speech_commands_figures(flags, path=UNSEEN_VOICE_ROWS):
    """{fold: isolated-digit accuracy} of the newest Speech Commands speaker-fold rows (`sc-fold-K`: trained
    without fold K's voices, tested on their clips) of `path` trained with `flags`."""
    return {int(fold): float(row["isolated_accuracy"]) for fold, row in _rows_of(flags, "sc-fold-", path).items()}


def speech_commands_line(flags, cell, path=UNSEEN_VOICE_ROWS):
    """The card's (measure, value) on Speech Commands voices it never heard (None when no fold was measured)."""
    figures = speech_commands_figures(flags, path)
    if not figures:
        return None
    per_fold = ", ".join(f"fold {fold} {accuracy:.1%}" for fold, accuracy in figures.items())
    trained_by = "this recipe" if cell == "gru" else "this recipe with a GRU"
    return (f"isolated digits said by Speech Commands voices it never heard: trained by {trained_by} without one "
            f"speaker fold's voices, on that fold's clips ({per_fold}; {len(figures)} of 5 folds; "
            f"`python benchmarks/ctc_speech.py sc-fold-0 -- {shlex.join(recipe_flags(flags))}`)",
            f"{sum(figures.values()) / len(figures):.1%}")


def unseen_voice_line(flags, cell):
    figures = unseen_voice_figures(flags)
    command = f"`python benchmarks/ctc_speech.py loso-george ... -- {shlex.join(recipe_flags(flags))}`"
    if not figures:
        return ("Voices it never heard: not measured for this recipe (leave-one-speaker-out: " + command + "). "
                "Expect errors on a new voice, accent or microphone.")
    per_speaker = ", ".join(f"{speaker} {cer:.1%}" for speaker, cer in figures.items())
    mean = sum(figures.values()) / len(figures)
    trained_by = "this recipe" if cell == "gru" else "this recipe with a GRU"
    return (f"Voices it never heard, when the 5% CER a stranger would accept matters: trained by {trained_by} "
            f"on three of FSDD's four voices (and the synthetic ones), it scored on the fourth {per_speaker} "
            f"(mean {mean:.1%}; leave-one-speaker-out, benchmarks/RESULTS.md, {command}). "
            "Expect more errors on a new voice, accent or microphone than on its test takes.")


def card_facts(recipe, config, data, metrics, version_dir):
    parity = streaming_parity(version_dir, data)
    cell = recipe.cell.upper()
    speakers = ", ".join(data.info["train_speakers"])
    train_clips, validation_clips, test_clips = data.info["clips"]
    voices = data.info.get("synthetic_voices")
    speech_commands = data.info.get("speech_commands")
    synthetic = []
    if voices:
        engine = {"espeak": "eSpeak NG", "formant": "the task's formant synthesiser"}[voices["engine"]]
        synthetic = [("synthetic voices", f"{voices['count']} voices ({engine}: accent, variant, pitch, rate and "
                                          f"vocal tract length each), saying {voices['share']:.0%} of the training "
                                          "utterances (`tasks/ctc_speech/utterances.py`)")]
    if speech_commands:
        synthetic.append(("Speech Commands voices", f"Speech Commands v0.02 (Warden 2018, CC BY 4.0), the digit words: "
                                                    f"{speech_commands['train_speakers']} voices, "
                                                    f"{speech_commands['train_clips']} clips, each word cut from its "
                                                    f"silence and composed into utterances, "
                                                    f"{speech_commands['share']:.0%} of the training utterances"))
    unseen_clips = speech_commands_line(recipe.flags, recipe.cell) if speech_commands else None
    return {
        "summary": f"Connected spoken digits (\"4 0 7 7 1\"), recognised as they are spoken: raw 8 kHz "
                   f"audio in, a digit string out, streaming through `step` 40 ms at a time. A "
                   f"unidirectional {cell} with CTC, trained on FSDD"
                   f"{', Speech Commands' if speech_commands else ''}{' and synthetic voices' if voices else ''}.",
        "task_line": "ctc_speech (`tasks/ctc_speech/`): raw waveform in, digit string out",
        "data": [
            ("data", "Free Spoken Digit Dataset (Jackson et al., Zenodo doi:10.5281/zenodo.1342401), "
                     f"speakers {speakers}"),
            ("licence", "FSDD is CC BY-SA 4.0 and Speech Commands CC BY 4.0: models trained on them are shared "
                        "with attribution to both, under CC BY-SA 4.0" if speech_commands else
                        "the data is CC BY-SA 4.0: models trained on it are shared with attribution, "
                        "under the same licence"),
            ("split", f"the authors' by-take split: takes 8-49 train ({train_clips:,} clips), 5-7 validation "
                      f"({validation_clips}), 0-4 test ({test_clips}); clips composed into utterances of "
                      f"1-{config['max_digits']} digits with pauses, gains and noise"),
            *synthetic,
        ],
        "architecture": f"log-mel (25 ms, 10 ms hop, {config['num_mel_bins']} bins, causal normalisation) → conv "
                        f"stride {config['subsampling']} ({config['conv_filters']} filters) → "
                        f"{config['num_layers']} x {cell} {config['units']} → logits over 10 digits + blank",
        "baseline_header": ("measure", "value"),
        "baselines": [
            ("CER, test takes of the four training voices (beam search)", f"{metrics['cer']:.2%}"),
            ("CER, greedy decoding", f"{metrics['greedy_cer']:.2%}"),
            ("exact strings", f"{metrics['exact_match']:.1%}"),
            (f"streamed `step` against `serving_default`, {parity['utterances']} test utterances: "
             "largest logit difference", f"{parity['max_logit_difference']:.1e}"),
            ("streamed greedy text equal to `serving_default`'s greedy text", f"{parity['same_text']:.1%}"),
            *([unseen_clips] if unseen_clips else []),
        ],
        "not_for": [
            unseen_voice_line(recipe.flags, recipe.cell),
            "Words other than the digits 0-9 in English, and open speech.",
            "Audio at other rates is resampled by `zoo.audio` when read from a WAV file; the export "
            "itself assumes 8 kHz samples in [-1, 1].",
        ],
        "picture": "figure.png",
        "picture_caption": "per-frame CTC posteriors of one test utterance",
        "examples": {"initial_state": {"batch_size": 1}},
        "usage": "A WAV file (any rate and width; `zoo.audio` resamples to 8 kHz) through `serving_default`:\n\n"
                 "```python\nimport zoo, zoo.audio\n"
                 f'model = zoo.load("{recipe.name}")\n'
                 'samples, _ = zoo.audio.load_audio("digits.wav", 8000)\n'
                 'model(waveform=[samples], length=[len(samples)])["text"]\n```\n\n'
                 "```bash\npython -c \"import json, zoo.audio; s, _ = zoo.audio.load_audio('digits.wav', 8000); "
                 "print(json.dumps({'inputs': {'waveform': [s.tolist()], 'length': [len(s)]}}))\" > request.json\n"
                 f"curl -d @request.json localhost:8501/v1/models/{recipe.name}:predict\n```\n\n"
                 "A client that cannot decode audio posts the file itself (16-bit PCM WAV, any rate, mono or "
                 "stereo; decoded and resampled in the graph) to the `wav` signature:\n\n"
                 f"```bash\ncurl -s localhost:8501/v1/models/{recipe.name}:predict \\\n"
                 "  -d \"{\\\"signature_name\\\": \\\"wav\\\", \\\"instances\\\": "
                 "[{\\\"b64\\\": \\\"$(base64 -w0 digits.wav)\\\"}]}\"\n```\n\n"
                 "Streaming: `state = model(batch_size=1, signature_name=\"initial_state\")[\"state\"]`, then "
                 "for each 40 ms chunk (320 samples) `out = model(audio=chunk, state=state, "
                 "signature_name=\"step\")`; `out[\"text\"]` holds the digits recognised in that chunk and "
                 "`out[\"state\"]` goes into the next call.",
    }


def streaming_parity(version_dir, data, count=20):
    """Streams test utterances through `step` (40 ms chunks) and compares with `serving_default`."""
    model = tf.saved_model.load(str(version_dir))
    step, serve = model.signatures["step"], model.signatures["serving_default"]
    chunk, differences, same = 320, [], []
    inputs, _ = next(iter(data.test))
    for waveform, length in list(zip(inputs["waveform"].numpy(), inputs["length"].numpy()))[:count]:
        audio = waveform[: length + (-length % chunk)][None]
        state = model.signatures["initial_state"](batch_size=tf.constant(1))["state"]
        logits, text = [], ""
        for start in range(0, audio.shape[1], chunk):
            out = step(audio=tf.constant(audio[:, start : start + chunk]), state=state)
            state, text = out["state"], text + out["text"].numpy()[0].decode()
            logits.append(out["logits"].numpy()[0])
        whole = serve(waveform=tf.constant(audio), length=tf.constant([audio.shape[1]], tf.int32))
        streamed = np.concatenate(logits)
        differences.append(np.abs(streamed - whole["logits"].numpy()[0][: len(streamed)]).max())
        greedy = ctc_decode(whole["logits"], whole["frame_lengths"], data.info["alphabet"])
        same.append(text == greedy.numpy()[0].decode())
    return {"utterances": len(differences), "max_logit_difference": float(max(differences)),
            "same_text": float(np.mean(same))}
