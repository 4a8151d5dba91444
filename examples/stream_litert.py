"""Stream a WAV file through a speech model's on-device step, printing digits as they are recognised.

    python examples/stream_litert.py recording.wav
    python examples/stream_litert.py recording.wav --model saved_models/ctc_speech-gru/1/edge/step.onnx

The step (`zoo/edge.py`; LiteRT by default, or ONNX) takes one chunk of audio (40 ms)
and the state the chunk before left, and returns that chunk's logits and the next
state. Greedy CTC decoding runs here, frame by frame: a frame's best symbol is
emitted when it is not the blank (the last symbol) and differs from the frame
before. Nothing but the runtime and numpy runs per chunk, as on a phone.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

from tasks.ctc_speech.streaming import stream_chunks
from zoo import catalog
from zoo.audio import load_audio
from zoo.edge import EdgeError, EdgeModel

DEFAULT_MODEL = "ctc_speech-fsdd-gru"  # a shipped model with its on-device files


def default_step_file():
    return catalog.find_model(DEFAULT_MODEL) / "1" / "edge" / "step.tflite"


def symbols_and_rate(step_file):
    """(the model's symbols without the blank, its sample rate), from the version's metadata beside edge/."""
    metadata = json.loads((step_file.parent.parent / "assets.extra" / "zoo_metadata.json").read_text())
    return metadata["config"]["alphabet"], metadata["data"]["sample_rate"]


def stream(step, audio, alphabet, sample_rate):
    """Yields (seconds into the audio, symbol) as the greedy decoder emits them."""
    (_, chunk), _ = step.inputs["audio"]
    blank = previous = len(alphabet)
    for index, logits in enumerate(stream_chunks(step, audio)):
        for frame, symbol in enumerate(np.argmax(logits, axis=-1)):
            if symbol != blank and symbol != previous:
                yield (index + (frame + 1) / len(logits)) * chunk / sample_rate, alphabet[symbol]
            previous = symbol


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wav", help="a PCM WAV file (any rate; resampled to the model's)")
    parser.add_argument("--model", type=pathlib.Path, help=f"a step .tflite or .onnx file (default: the shipped "
                        f"{DEFAULT_MODEL}'s edge/step.tflite)")
    args = parser.parse_args(argv)
    try:
        step_file = args.model or default_step_file()
        step = EdgeModel(step_file)
        if set(step.inputs) != {"audio", "state"}:
            raise EdgeError(f"{step_file} is not a streaming step (it takes {sorted(step.inputs)}, "
                            "not 'audio' and 'state').")
        alphabet, sample_rate = symbols_and_rate(step_file)
        audio, _ = load_audio(args.wav, sample_rate)
    except (OSError, ValueError, KeyError) as error:
        sys.exit(f"stream_litert: {error}")
    started, text = time.perf_counter(), ""
    for seconds, symbol in stream(step, audio, alphabet, sample_rate):
        text += symbol
        print(f"{seconds:6.2f} s  {symbol}", flush=True)
    elapsed = time.perf_counter() - started
    print(f"{text!r}: {len(audio) / sample_rate:.2f} s of audio in {elapsed * 1000:.0f} ms "
          f"({step_file.suffix[1:]})")


if __name__ == "__main__":
    main()
