"""The names `--cell` takes, as plain data: flags are checked against them (and `--help` lists them)
before Keras is imported. `zoo.builders` maps each name to its layer; a test checks they agree."""

# Greff et al. 2016's LSTM variants (options in `zoo.layers.lstm.GREFF_VARIANTS`): `lstm_peephole` is
# their vanilla LSTM (V); the others change it in one place; their NP is `lstm`.
GREFF_CELLS = ("lstm_peephole", "lstm_nig", "lstm_nfg", "lstm_nog", "lstm_niaf", "lstm_noaf", "lstm_cifg", "lstm_fgr")
# Keras's own recurrent layers, the comparison baselines: their loops (and cuDNN kernels) have no
# LiteRT or ONNX form here, so a model of one has no on-device files.
KERAS_BUILTIN_CELLS = ("keras_gru", "keras_lstm", "rnn")
RECURRENT_CELLS = ("gru", "gru_reset_before", "lstm", *GREFF_CELLS, *KERAS_BUILTIN_CELLS)
# The non-recurrent encoders (`zoo.encoders`): the attention and convolution baselines.
ENCODER_NAMES = ("transformer", "cnn")
SEQUENCE_MODELS = tuple(sorted(RECURRENT_CELLS + ENCODER_NAMES))  # every `--cell` name
