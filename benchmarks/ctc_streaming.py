"""Streaming a CTC speech export: latency per audio chunk, and the same digits as the whole utterance.

    python benchmarks/ctc_streaming.py saved_models/ctc_speech-gru/2 --data-dir ../shared/data/fsdd

Composes `--utterances` test utterances (FSDD takes 0-4, or synthetic without
`--data-dir`), feeds each to the `step` signature in chunks of `--chunk-ms`
(batch 1, as a live microphone would) and reports the time per chunk (p50/p99),
the real-time factor (compute time / audio time), the greedy CER of the streamed
text and how often it equals `serving_default`'s text on the whole utterance.
"""

import argparse
import time

import numpy as np
import tensorflow as tf

from tasks.ctc_speech.ctc import decode_labels, error_rates
from tasks.ctc_speech.data import load_fsdd, split_fsdd
from tasks.ctc_speech.utterances import (
    DIGITS,
    SAMPLE_RATE,
    RecordedSpeakers,
    SyntheticSpeakers,
    random_utterance,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("export", help="a SavedModel version folder with a step signature")
    parser.add_argument("--data-dir", help="FSDD folder; synthetic digits without it")
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--chunk-ms", type=int, default=40)
    args = parser.parse_args()

    model = tf.saved_model.load(args.export)
    step, serve = model.signatures["step"], model.signatures["serving_default"]
    if args.data_dir:
        speakers = RecordedSpeakers(split_fsdd(load_fsdd(args.data_dir, SAMPLE_RATE))[2])
    else:
        speakers = SyntheticSpeakers()
    rng = np.random.default_rng([0, 2])
    utterances = [random_utterance(speakers, rng, 7) for _ in range(args.utterances)]

    chunk = SAMPLE_RATE * args.chunk_ms // 1000
    seconds, audio_seconds, references, streamed, whole = [], 0.0, [], [], []
    for utterance in utterances:
        waveform = np.pad(utterance.waveform, (0, -len(utterance.waveform) % chunk))[None]
        state = model.signatures["initial_state"](batch_size=tf.constant(1))["state"]
        text = ""
        for start in range(0, waveform.shape[1], chunk):
            begin = time.perf_counter()
            out = step(audio=tf.constant(waveform[:, start : start + chunk]), state=state)
            state = out["state"]
            text += out["text"].numpy()[0].decode()
            seconds.append(time.perf_counter() - begin)
        audio_seconds += waveform.shape[1] / SAMPLE_RATE
        references.append(decode_labels(utterance.labels, DIGITS))
        streamed.append(text)
        full = serve(waveform=tf.constant(waveform), length=tf.constant([waveform.shape[1]], tf.int32))
        whole.append(full["text"].numpy()[0].decode())

    rates = error_rates(references, streamed, DIGITS)
    milliseconds = 1000 * np.array(seconds[10:])  # after warm-up
    print(
        f"{len(utterances)} utterances, {audio_seconds:.0f} s of audio in {args.chunk_ms} ms chunks: "
        f"{np.median(milliseconds):.2f} ms p50, {np.percentile(milliseconds, 99):.2f} ms p99 per chunk, "
        f"real-time factor {sum(seconds) / audio_seconds:.3f}; streamed greedy CER {rates['cer']:.4f}, "
        f"exact match {rates['exact_match']:.4f}; same text as serving_default on "
        f"{np.mean([s == w for s, w in zip(streamed, whole)]):.1%} of utterances"
    )


if __name__ == "__main__":
    main()
