"""Connected spoken digits recognised with CTC: 8 kHz waveforms in, digit strings out.

Data (`--data`):
  fsdd       Free Spoken Digit Dataset: `--data-dir` holding `recordings.tar.gz`, a
             `recordings/` folder or the WAVs (`{digit}_{speaker}_{take}.wav`). Clips
             are composed into utterances of 1 to `--max-digits` digits of one speaker
             with random pauses, gains, level and background noise, anew each epoch.
             Takes 0-4 are test (the authors' split), takes 5-7 validation, 8-49
             train; with `--test-speakers a,b` every take of those speakers is test
             and they are left out of training and validation.
  wavs       `--data-dir` holding `train.csv` and `test.csv` (or .tsv, optionally
             gzipped) with columns `file` (a WAV path, relative to the folder) and
             `transcript` (symbols of `--alphabet`; spaces are ignored unless the
             alphabet has one). Other sample rates are resampled, stereo is averaged.
  synthetic  an offline generator of "spoken" digits from `--seed`: each digit is a
             sequence of 2-4 phones (formant vowels and nasals on a harmonic source,
             noise fricatives, stop bursts) said by a random voice (pitch, vocal tract
             length, speaking rate, tilt, breathiness), so durations overlap between
             digits and only the spectral sequence tells them apart.
Default: FSDD if `--data-dir` has it, else synthetic, with a notice. The files are
read by `data` (`load_fsdd`, `load_transcribed_wavs`); speakers, the synthesiser
and the composition of utterances are in `utterances`, the splits and batches in `splits`.

Training utterances of fsdd and synthetic are perturbed (`--augment`): all clips of
an utterance resampled by one factor (a new speaker's tempo, pitch and formants) and
the utterance sent through a random equaliser (a new channel); 5% are noise alone;
`--channel-share p` also plays a share p of them in a random room through a random band.
With `--synthetic-voices N` (fsdd), a share of the training utterances is said by N
eSpeak NG voices and the same share of the validation utterances by 50 other voices, so
the kept epoch is the one best on voices it never trained on, not only on new takes of
the training speakers.

Model: log-mel features in the graph with per-utterance normalisation (whole
utterance when bidirectional, causal running statistics when unidirectional; see
`front_end`) → optional SpecAugment in training → strided convolution
(`--subsampling`, 1 = none) → (bi)GRU/LSTM stack → logits over the alphabet plus a
blank (last index).

Loss: CTC with true lengths on both sides (`tasks.ctc_speech.ctc`). Labels are padded with -1,
which is never a symbol; the last layer (`PadAsBlank`) sets the logits of padded
frames to "blank with probability 1", so CTC over the padded length equals CTC over
the true length, and the model stays one plain `keras.Model` with one output.
Metrics: greedy CER in training; CER, WER and exact match of beam-search (and
greedy) decoding on the test set.

Export: `serving_default` takes `waveform` (float32 `[batch, samples]`, 8 kHz, in
[-1, 1]) and `length` (int32 `[batch]`, samples per row) and returns `text`,
`logits` `[batch, frames, symbols + 1]` and `frame_lengths`. A unidirectional model
also has `step` (`audio` chunk `[batch, k · chunk]` and `state` `[batch, S]` → `text`
emitted in this chunk, `logits`, `state`) and `initial_state` (`batch_size` → zeros
`[batch, S]`); streaming a whole utterance chunk by chunk gives the logits of
`serving_default` on it (`tasks.ctc_speech.streaming`).
"""

import keras
import numpy as np
import tensorflow as tf

from tasks.ctc_speech import card
from tasks.ctc_speech.ctc import (
    CTCLoss,
    GreedyErrorRate,
    PadAsBlank,
    check_alphabet,
    ctc_decode,
    decode_labels,
    error_rates,
)
from tasks.ctc_speech.data import fsdd_is_available
from tasks.ctc_speech.figures import posteriors_figure
from tasks.ctc_speech.front_end import (
    FRAME_LENGTH,
    FRAME_STEP,
    ConvSubsampling,
    LogMelSpectrogram,
    SpecAugment,
    decode_wavs,
)
from tasks.ctc_speech.splits import (
    composed_splits,
    utterance_dataset,
    wav_folder_splits,
)
from tasks.ctc_speech.streaming import (
    StreamingRecognizer,
    audio_chunks,
    can_stream,
    output_frame_samples,
    output_lengths,
)
from tasks.ctc_speech.settings import DIGITS, HYPERPARAMETERS
from tasks.ctc_speech.utterances import SAMPLE_RATE
from zoo.builders import ENCODERS, configured_stack
from zoo.guards import check, check_rows
from zoo.task import Data, Metric, Task, register_task

EDGE_CHUNK_FRAMES = 1  # output frames per on-device step: 40 ms of audio, the real-time unit

SERVING_INPUTS = [
    tf.TensorSpec([None, None], tf.float32, name="waveform"),  # at SAMPLE_RATE, in [-1, 1]
    tf.TensorSpec([None], tf.int32, name="length"),  # samples of each row
]
WAV_INPUT = tf.TensorSpec([None], tf.string, name="wav")  # encoded 16-bit PCM WAV files, any rate and channels

# ---------------------------------------------------------------------- task


@register_task
class CtcSpeechTask(Task):
    name = "ctc_speech"
    metric = Metric("cer", higher_is_better=False, target=("val_cer", 0.1))
    tiny = dict(data="synthetic", train_utterances=8, validation_utterances=4, test_utterances=4, units=8,
                num_layers=1, conv_filters=8, num_mel_bins=16, subsampling=2, bidirectional=False, batch_size=4)
    hyperparameters = HYPERPARAMETERS

    def resolve(self, config, data=None):
        """Fills `data` (the source read) and `normalization` (causal for a unidirectional model)."""
        normalization = config["normalization"] or ("utterance" if config["bidirectional"] else "causal")
        return {**super().resolve(config, data), "normalization": normalization}

    # -- data

    def build_inputs(self, config):
        source, data_dir = config["data"], config["data_dir"]
        if source is None:
            source = "fsdd" if fsdd_is_available(data_dir) else "synthetic"
            print(
                f"ctc_speech: FSDD found in {data_dir} (for offline synthetic digits: --data synthetic)."
                if source == "fsdd"
                else "ctc_speech: no FSDD in --data-dir, using synthetic spoken digits (for FSDD: "
                "--data fsdd --data-dir DIR with recordings.tar.gz or recordings/*.wav)."
            )
        if source not in ("fsdd", "wavs", "synthetic"):
            raise ValueError(f"--data {source!r}: choose fsdd, wavs or synthetic.")
        check_alphabet(config["alphabet"])
        if not config["synthetic_voices"] and config["synthetic_share"] != self.defaults["synthetic_share"]:
            raise ValueError(f"--synthetic-share {config['synthetic_share']:g} is the share of utterances said by "
                             "--synthetic-voices N; without voices it would do nothing: give --synthetic-voices "
                             "too, or leave the share out.")
        if config["cepstra"] > config["num_mel_bins"]:
            raise ValueError(f"--cepstra {config['cepstra']}: at most --num-mel-bins ({config['num_mel_bins']}).")
        if source != "wavs" and config["alphabet"] != DIGITS:
            raise ValueError(f"--alphabet is for --data wavs; --data {source} has the digits {DIGITS}.")
        rng = np.random.default_rng(config["seed"])  # training data order and compositions
        if config["speech_commands_dir"] is None and config["speech_commands_share"] != self.defaults[
                "speech_commands_share"]:
            raise ValueError(f"--speech-commands-share {config['speech_commands_share']:g} is the share of utterances "
                             "said by the --speech-commands-dir voices; give the folder too, or leave the share out.")
        if source == "wavs":
            train, train_size, validation, test, description, info, reference = wav_folder_splits(config, rng)
        else:
            train, train_size, validation, test, description, info, reference = composed_splits(config, source, rng)
        batch = config["batch_size"]
        return Data(
            train=utterance_dataset(train, train_size, batch, rng),
            validation=utterance_dataset(lambda: validation, len(validation), batch),
            test=utterance_dataset(lambda: test, len(test), batch),
            description=description,
            info={
                "source": source,
                "sample_rate": SAMPLE_RATE,
                "alphabet": config["alphabet"],
                "sizes": [train_size, len(validation), len(test)],
                **info,
            },
            settings={"data": source},
            reference=reference,
        )

    # -- model

    def build_model(self, config, data=None, parent=None):  # a parent brings weights only
        alphabet = data.info["alphabet"] if data else config["alphabet"]
        normalization = config["normalization"]
        waveform = keras.Input((None,), name="waveform")
        length = keras.Input((), dtype="int32", name="length")
        # dtype float32 here and at the logits, whatever the policy: under mixed precision
        # (zoo.distribute) the FFT has no 16-bit kernel and the CTC loss wants float32 logits.
        log_mel = LogMelSpectrogram(
            SAMPLE_RATE, FRAME_LENGTH, FRAME_STEP, num_mel_bins=config["num_mel_bins"],
            causal=normalization == "causal", cepstra=config["cepstra"] or None, name="log_mel", dtype="float32",
        )
        hidden = log_mel([waveform, length])  # (batch, frames, mel), masked
        if data is not None:  # the normalisation prior: training-set statistics
            log_mel.adapt((x["waveform"], x["length"]) for x, _ in data.train.take(8))
        if config["spec_augment"]:
            hidden = SpecAugment(seed=config["seed"], name="spec_augment")(hidden)
        if config["subsampling"] > 1:
            subsampling = ConvSubsampling(config["conv_filters"], config["subsampling"], name="subsampling")
            hidden = subsampling(hidden)  # (batch, frames / stride, filters)
        hidden = configured_stack(hidden, config, dropout=config["dropout"])
        logits = keras.layers.Dense(len(alphabet) + 1, name="logits", dtype="float32")(hidden)  # last: blank
        logits = PadAsBlank(name="pad_as_blank", dtype="float32")(logits)
        inputs = {"waveform": waveform, "length": length}
        return keras.Model(inputs, logits, name=f"ctc_speech_{config['cell']}")

    def build_losses(self, config):
        return CTCLoss()

    def build_metrics(self, config):
        return [GreedyErrorRate(name="cer")]

    # -- evaluation

    def evaluate(self, model, data, config):
        alphabet = data.info["alphabet"]
        infer = _inference_function(model, alphabet, config["beam_width"])
        references, greedy, beam = _transcribe(infer, data.test, alphabet)
        metrics = error_rates(references, beam, alphabet)
        metrics.update({f"greedy_{k}": v for k, v in error_rates(references, greedy, alphabet).items()})
        metrics.update(
            test_utterances=len(references),
            test_symbols=sum(len(r) for r in references),
            beam_width=config["beam_width"],
        )
        isolated = (data.reference or {}).get("isolated")
        if isolated:  # voices it never heard, each clip one digit as recorded
            clips = utterance_dataset(lambda: isolated, len(isolated), config["batch_size"])
            truth, _, said = _transcribe(infer, clips, alphabet)
            metrics.update(isolated_accuracy=float(np.mean([s == t for s, t in zip(said, truth)])),
                           isolated_cer=error_rates(truth, said, alphabet)["cer"], isolated_clips=len(isolated))
        return metrics

    def card_facts(self, recipe, config, data, metrics, model, version_dir, data_path):
        return card.card_facts(recipe, config, data, metrics, version_dir)

    def figure(self, model, data, config):
        """Per-frame posteriors of the longest transcript in the last test batch, with its greedy text."""
        alphabet = data.info["alphabet"]
        for inputs, labels in data.test:  # batches grow longer towards the end
            pass
        row = int(np.argmax(np.sum(labels.numpy() >= 0, axis=1)))
        outputs = _inference_function(model, alphabet, 1)(inputs["waveform"][row : row + 1],
                                                          inputs["length"][row : row + 1])
        frames = int(outputs["frame_lengths"][0])
        probabilities = tf.nn.softmax(outputs["logits"][0, :frames]).numpy()
        return posteriors_figure(
            probabilities, alphabet, output_frame_samples(model) / SAMPLE_RATE,
            reference=decode_labels(labels[row].numpy(), alphabet), hypothesis=outputs["text"][0].numpy().decode(),
            title=f"{data.info['source']} test utterance: {self.name}-{config['cell']}",
        )

    # -- export

    def serving_signatures(self, model, data, config):
        alphabet = data.info["alphabet"] if data else config["alphabet"]
        infer = _inference_function(model, alphabet, config["beam_width"], compile=False)

        def serve(waveform, length):
            outputs = infer(waveform, length)
            return {name: outputs[name] for name in ("text", "logits", "frame_lengths")}

        def serve_wav(wav):  # encoded WAV files, for clients that cannot decode audio (curl, a browser)
            return serve(*decode_wavs(wav, SAMPLE_RATE))

        signatures = {"serving_default": (serve, SERVING_INPUTS), "wav": (serve_wav, [WAV_INPUT])}
        if can_stream(model):
            signatures.update(StreamingRecognizer(model, alphabet).signatures())
        return signatures

    # -- on-device (zoo.edge)

    def edge_signatures(self, model, config):
        """The streaming `step` only: one chunk of `EDGE_CHUNK_FRAMES` output frames (40 ms each)
        and the state in, its logits and the new state out. A whole utterance is streamed
        through it chunk by chunk; a bidirectional model has no on-device form."""
        if not can_stream(model):
            raise ValueError(self.edge_unavailable(config) or "this model cannot stream.")
        recognizer = StreamingRecognizer(model, config["alphabet"], unroll=True)
        return {"step": (recognizer.edge_step, [
            tf.TensorSpec([1, EDGE_CHUNK_FRAMES * recognizer.chunk_samples], tf.float32, name="audio"),
            tf.TensorSpec([1, recognizer.state_size], tf.float32, name="state"),
        ])}

    def edge_unavailable(self, config):
        if config["cell"] in ENCODERS:
            return (f"--cell {config['cell']} has no streaming step (only the recurrent cells carry a state "
                    "from chunk to chunk); the on-device form is that step.")
        if config["bidirectional"]:
            return ("a bidirectional speech model reads each utterance whole and has no on-device "
                    "(streaming) form; train with --no-bidirectional.")
        if config["normalization"] == "utterance":
            return ("--normalization utterance reads each utterance whole: the on-device (streaming) form "
                    "needs --normalization causal.")
        return None

    def edge_examples(self, model, config, warmup):
        """The chunks (and states) of the first warm-up utterance, streamed through the step."""
        recognizer = StreamingRecognizer(model, config["alphabet"])
        state, examples = recognizer.initial_state(1), []
        for audio in audio_chunks(warmup["waveform"][0, : int(warmup["length"][0])],
                                  EDGE_CHUNK_FRAMES * recognizer.chunk_samples):
            examples.append({"audio": audio, "state": state.numpy()})
            state = recognizer.edge_step(tf.constant(audio), state)["next_state"]
        return {"step": examples}

    def edge_about(self, config):
        return ("`step`: `audio` (one chunk of raw samples in [-1, 1], its length in the signature: "
                f"{EDGE_CHUNK_FRAMES} output frame(s), 40 ms each with the default front end) and `state` "
                "(zeros before the first chunk) in; `logits` (frames x symbols, blank last) and `next_state` "
                "out. Greedy CTC on the logits: each frame's argmax, repeats and blanks dropped "
                "(examples/stream_litert.py).")

    def serving_examples(self, data, config):
        """A few raw test utterances, valid inputs of `serving_default`."""
        inputs, _ = next(iter(data.test))
        lengths = inputs["length"].numpy()[:4]
        return {"waveform": inputs["waveform"].numpy()[:4, : lengths.max()], "length": lengths}


def _transcribe(infer, batches, alphabet):
    """(references, greedy texts, beam-search texts) of the utterance `batches` (`_inference_function`)."""
    references, greedy, beam = [], [], []
    for inputs, labels in batches:
        outputs = infer(inputs["waveform"], inputs["length"])
        references += [decode_labels(row, alphabet) for row in labels.numpy()]
        greedy += [t.decode() for t in outputs["greedy_text"].numpy()]
        beam += [t.decode() for t in outputs["text"].numpy()]
    return references, greedy, beam


def _inference_function(model, alphabet, beam_width, compile=True):
    """`(waveform, length) → {text, greedy_text, logits, frame_lengths}`, tolerant of edge cases."""
    min_samples = output_frame_samples(model)

    def infer(waveform, length):
        rows = tf.shape(waveform)[0]
        length = check(length, tf.shape(length)[0] == rows, tf.strings.format(
            "Input 'length' has {} values and 'waveform' {} rows; give one length per row.",
            (tf.shape(length)[0], rows)))
        length = check_rows(length, length >= 0, "Input 'length' row {} is negative.")
        waveform = check_rows(waveform, tf.reduce_all(tf.math.is_finite(waveform), axis=1),
                              "Input 'waveform' row {} holds NaN or an infinite value.")
        # Pad rows too short for one output frame (the padding is masked), and keep
        # lengths within the waveform.
        width = tf.shape(waveform)[1]
        waveform = tf.pad(waveform, [[0, 0], [0, tf.maximum(0, min_samples - width)]])
        length = tf.clip_by_value(tf.cast(length, tf.int32), 0, width)
        logits = model({"waveform": waveform, "length": length}, training=False)
        frame_lengths = output_lengths(model, length)
        return {
            "text": ctc_decode(logits, frame_lengths, alphabet, beam_width),
            "greedy_text": ctc_decode(logits, frame_lengths, alphabet, 1),
            "logits": logits,
            "frame_lengths": frame_lengths,
        }

    if not compile:
        return infer
    return tf.function(infer, input_signature=SERVING_INPUTS, autograph=False)

