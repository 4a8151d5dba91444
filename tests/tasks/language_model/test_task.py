"""The language-model task, trained tiny: perplexity falls, the export's signatures agree with each other
(next words, scores and the step), the on-device step equals the SavedModel's, the baseline, bad settings."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
import zoo.task
from tasks.language_model.inference import WordPredictor
from zoo import edge
from zoo.edge import EDGE_DIR, EdgeModel
from zoo.training import export, fit

TASK = zoo.task.get_task("language_model")


def tiny_config(**overrides):
    return zoo.task.resolve_config(TASK, **{**TASK.tiny, "synthetic_texts": 120, "epochs": 4, **overrides})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(Run, SavedModel, its folder) of a tiny LM trained for a few epochs, converted to LiteRT."""
    folder = tmp_path_factory.mktemp("language_model")
    run = fit(TASK, tiny_config(), output_dir=folder / "runs", verbose=0)
    path = export(TASK, run, folder / "saved_models")
    edge.convert(path, ["litert"])
    return run, zoo.load(path), path


def log_softmax(logits):
    return logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - \
        logits.max(-1, keepdims=True)


def stepped(saved, ids):
    """The SavedModel's `step` over `ids` from its initial state: the logits after each id."""
    state = saved(batch_size=np.int32(1), signature_name="initial_state")["state"]
    logits = []
    for token in ids:
        outputs = saved(token=np.array([token], "int32"), state=state, signature_name="step")
        logits.append(outputs["logits"][0])
        state = outputs["state"]
    return np.array(logits)


def test_training_lowers_the_perplexity_below_a_uniform_guess(trained):
    run, _, _ = trained
    validation = run.history["val_loss"]
    assert validation[-1] < validation[0]
    vocabulary = run.data.info["vocabulary_size"]
    assert run.metrics["test_perplexity"] < 0.9 * vocabulary  # a uniform guess: the vocabulary size
    assert run.metrics["validation_perplexity"] == pytest.approx(np.exp(min(validation)), rel=0.05)
    assert run.metrics["test_cross_entropy"] == pytest.approx(np.log(run.metrics["test_perplexity"]))


def test_score_and_next_words_equal_the_step_run_word_by_word(trained):
    run, saved, _ = trained
    text = "the plot was not good"
    ids = WordPredictor(run.model).ids(tf.constant([text])).numpy()[0]
    ids = ids[ids > 0]  # xxbos the plot was not good
    logits = stepped(saved, ids)
    expected = sum(log_softmax(logits[k])[ids[k + 1]] for k in range(len(ids) - 1))
    score = saved(text=[text], signature_name="score")
    np.testing.assert_allclose(score["log_probability"], [expected], rtol=1e-4)
    assert score["words"].tolist() == [len(ids) - 1]
    assert score["unknown_words"].tolist() == [np.sum(ids == 1)]
    np.testing.assert_allclose(score["perplexity"], np.exp(-expected / (len(ids) - 1)), rtol=1e-4)
    following = saved(text=[text])
    probabilities = np.exp(log_softmax(logits[-1]))
    top = np.argsort(-probabilities)[: run.config["top_k"]]
    vocabulary = run.model.get_layer("vectorizer").get_vocabulary()
    assert [word.decode() for word in following["words"][0]] == [vocabulary[k] for k in top]
    np.testing.assert_allclose(following["probabilities"][0], probabilities[top], rtol=1e-4)


def test_texts_of_any_length_in_one_batch_score_as_alone(trained):
    _, saved, _ = trained
    texts = ["the film", "the acting was very good , but the ending was dull " * 4, "zzz qqq"]
    together = saved(text=texts, signature_name="score")
    for row, text in enumerate(texts):
        alone = saved(text=[text], signature_name="score")
        np.testing.assert_allclose(together["log_probability"][row], alone["log_probability"][0], rtol=1e-4)
    assert together["unknown_words"][2] == 2  # words it never saw are scored as [UNK]


def test_a_text_with_no_words_is_refused_by_score_and_gets_first_words(trained):
    _, saved, _ = trained
    with pytest.raises(ValueError, match="score: a text with no words .* has nothing to score"):
        saved(text=["!!!"], signature_name="score")
    assert saved(text=[""])["words"].shape == (1, TASK.tiny.get("top_k", 5))


def test_the_on_device_step_equals_the_saved_models(trained):
    run, saved, path = trained
    step = EdgeModel(path / EDGE_DIR / "step.tflite")
    ids = WordPredictor(run.model).ids(tf.constant(["the plot was good"])).numpy()[0]
    state = np.zeros(step.inputs["state"][0], "float32")
    expected = stepped(saved, ids[ids > 0])
    for k, token in enumerate(ids[ids > 0]):
        outputs = step(token=np.array([token], "int32"), state=state)
        np.testing.assert_allclose(outputs["logits"][0], expected[k], rtol=1e-4, atol=1e-4)
        state = outputs["next_state"]
    assert (path / EDGE_DIR / "vocabulary.txt").read_text().split("\n")[2] == \
        run.model.get_layer("vectorizer").get_vocabulary()[2]


def test_the_kneser_ney_baseline_scores_the_same_test_words(trained):
    run, _, _ = trained
    value, stored, _ = TASK.baseline("kneser_ney", run.config, run.data)
    assert 1 < value < run.data.info["vocabulary_size"] and stored > 0


@pytest.mark.parametrize("overrides, message", [
    ({"bidirectional": True}, "--bidirectional: a language model reads left to right"),
    ({"cell": "keras_lstm"}, "--weight-dropout 0.2 is an option of the zoo's own cells; --cell keras_lstm has none"),
])
def test_settings_a_language_model_cannot_take_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        TASK.resolve(tiny_config(**overrides))


def test_the_harness_compares_every_cell_alike_without_dropconnect():
    """evaluate.py --task applies `comparison`: Keras's SimpleRNN (the plain-RNN baseline) has no DropConnect."""
    assert TASK.resolve(tiny_config(cell="rnn", **TASK.comparison))["weight_dropout"] == 0.0


def test_the_picture_and_the_card_facts(trained):
    run, _, _ = trained
    figure = TASK.figure(run.model, run.data, run.config)
    assert [axis.get_title() for axis in figure.axes] == ["“this movie was …”", "“the acting is …”",
                                                           "“i would not recommend …”"]
    recipe = type("Recipe", (), {"name": "text-tiny-lstm-lm", "cell": "lstm"})()
    facts = TASK.card_facts(recipe, run.config, run.data, run.metrics, run.model, None, None)
    (_, ours), (_, kneser_ney) = facts["baselines"]
    assert float(ours) == pytest.approx(run.metrics["test_perplexity"], abs=1e-3) and float(kneser_ney) > 1
    assert "--init-from text-tiny-lstm-lm" in facts["summary"]
