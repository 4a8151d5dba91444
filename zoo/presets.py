"""`zoo.from_preset(name)`: an exported model (a shipped one by name) as a trainable Keras model, as
keras-hub's presets give one.

    model = zoo.from_preset("sentiment-imdb-gru")      # raw text in, its preprocessing inside
    model.fit(texts, labels, epochs=1)                 # compiled: the task's loss and metrics

The model is its task's model of the export's stored config with the export's weights and fitted
preprocessing (vocabularies) copied in (`zoo.loading.rebuild`, checked against the export's own
answers in the tests); an ensemble whose members were built in `zoo.loading.member_scope`s (what
`benchmarks/build_zoo.py` exports) comes back as its task's ensemble (`Task.ensemble`), while one
exported before, whose members' variables share names, is refused by name, compiled with the task's losses and metrics and Adam at the run's peak
learning rate and gradient clipping (`learning_rate`, `clipnorm`); compile it again for another
schedule. How each shipped model was built, the exact command, is in its card
(`saved_models/<name>/README.md`, "built by"); `train.py --init-from NAME` continues from it on
your data with the zoo's training loop instead.
"""

import keras

from zoo import loading


def from_preset(name):
    """The export `name` (a model name, model folder or version folder) as a compiled, trainable Keras
    model; ValueError naming what cannot be rebuilt (a .keras file is loaded as it is: give it to
    `zoo.load`)."""
    saved = loading.load(name)
    if not isinstance(saved, loading.SavedModel):
        raise ValueError(f"{name}: a .keras file is a Keras model already (zoo.load gives it); from_preset takes "
                         "an exported model's name or folder.")
    task, config, model = loading.rebuild(saved)
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"], clipnorm=config["clipnorm"]),
                  loss=task.build_losses(config), metrics=task.build_metrics(config))
    return model
