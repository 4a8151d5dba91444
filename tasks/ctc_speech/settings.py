"""The CTC speech task's hyperparameter table (`zoo.hyperparameters`): plain data, importable without
TensorFlow, so train.py checks its flags before TensorFlow is imported (`zoo.task.hyperparameter_table`)."""

from zoo.hyperparameters import Hyperparameter, fraction, non_negative, share, shared

DIGITS = "0123456789"  # the transcript alphabet: label d is the digit d
TTS_ENGINES = ("auto", "espeak", "formant")  # --tts: eSpeak NG's voices, the formant synthesiser, or either

HYPERPARAMETERS = shared(
    # Fresh utterances every epoch leave little to overfit, and the validation loss
    # jumps from epoch to epoch: train every epoch (patience 30), keep the best one's weights.
    epochs=30, batch_size=32, learning_rate=2e-3, units=128, num_layers=2, bidirectional=True,
    dropout=0.1, patience=30,
) + [
    Hyperparameter("test_speakers", None, str,
                   "FSDD speakers (comma-separated) to test on and hold out of training"),
    Hyperparameter("alphabet", DIGITS, str, "transcript symbols for --data wavs"),
    Hyperparameter("max_digits", 7, int, "digits per composed utterance: 1 to this"),
    Hyperparameter("train_utterances", 1600, int, "composed training utterances per epoch (fsdd, synthetic)"),
    Hyperparameter("validation_utterances", 640, int, "composed validation utterances"),
    Hyperparameter("test_utterances", 500, int, "composed test utterances"),
    Hyperparameter("augment", True, bool,
                   "train on perturbed speakers (speed/formant scale) through random equalisers"),
    Hyperparameter("channel_share", 0.0, float, "--augment: share of training utterances also said in a random "
                   "room (reverberation 0.1-0.7 s) heard through a random band (50-300 Hz to 2.8-4 kHz)",
                   check=fraction),
    Hyperparameter("spec_augment", False, bool, "in training, mask random mel bands and frame spans"),
    Hyperparameter("synthetic_voices", 0, int, "--data fsdd: also train on this many synthetic voices "
                   "(0: none)", check=non_negative),
    Hyperparameter("synthetic_share", 0.5, float, "share of training utterances said by them (1: only "
                   "them, validated on other synthetic voices, tested on every take of --test-speakers or of "
                   "all speakers)",
                   check=fraction),
    Hyperparameter("speech_commands_dir", None, str, "--data fsdd: a folder of Speech Commands digit clips "
                   "(recordings.tar.gz and speakers.csv, many voices): they join training, and one fold of their "
                   "speakers is the isolated-digit test of voices it never heard"),
    Hyperparameter("speech_commands_share", 0.25, float, "share of training utterances said by those voices "
                   "(each digit a random clip, its silence trimmed; the rest as without them)", check=fraction),
    Hyperparameter("speech_commands_folds", 5, int, "speaker folds of the Speech Commands voices (fixed, "
                   "whatever --seed)"),
    Hyperparameter("speech_commands_fold", "0", str, "the fold held out as the isolated-digit test "
                   "(0 .. folds - 1), or none: every voice trains"),
    Hyperparameter("tts", "auto", str, "their engine: espeak (eSpeak NG, the [speech] extra), formant, or auto",
                   choices=TTS_ENGINES),
    Hyperparameter("tts_variants", None, str, "eSpeak NG voice variants to draw from, comma-separated "
                   "(default: all, e.g. m1,f2,klatt3)"),
    Hyperparameter("validation_fraction", 0.1, float, "share of train.csv held out (--data wavs)",
                   check=share),
    Hyperparameter("max_seconds", 30.0, float, "longest --data wavs file accepted"),
    Hyperparameter("num_mel_bins", 40, int, "log-mel bins"),
    Hyperparameter("cepstra", 0, int, "keep this many mel-cepstral coefficients of each frame instead of the "
                   "log-mel bins (0: log-mel)", check=non_negative),
    Hyperparameter("normalization", None, str,
                   "feature statistics over the whole utterance or up to each frame "
                   "(causal is needed for streaming)",
                   auto="utterance if bidirectional, causal otherwise", choices=("utterance", "causal")),
    Hyperparameter("subsampling", 4, int, "stride of the conv before the RNN (1: none; 4: 40 ms per frame)"),
    Hyperparameter("conv_filters", 128, int, "filters of that conv"),
    Hyperparameter("beam_width", 8, int, "CTC beam search width (1: greedy)"),
]
