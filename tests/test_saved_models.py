"""The shipped models in saved_models/: complete, loadable by name, served, carded, and as good as their cards.

Scores on real data (when ../shared/data is there) are checked on fixed slices of the
test data, with stated tolerances: forecasting on the whole M4 Hourly test (it is
small: the OWA must equal the card's to 1e-4), sentiment on the first 1,000 IMDB test
reviews (accuracy within 0.04 of the card's full-test accuracy: over 4 binomial
standard deviations), speech on the first 64 composed test utterances (CER at most
the card's + 0.02).
"""

import json

import numpy as np
import pytest

import zoo
from tests.conftest import card_metrics, require_data, start_rest_server
from zoo import cards, catalog
from zoo.layout import read_manifest, read_warmup_requests
from zoo.serving.rest import row_request

SHIPPED = sorted(read_manifest(catalog.SHIPPED_DIR))
pytestmark = pytest.mark.skipif(not SHIPPED, reason=f"no shipped models in {catalog.SHIPPED_DIR}")


@pytest.fixture(scope="module")
def loaded():
    return {name: zoo.load(name) for name in SHIPPED}


@pytest.mark.parametrize("name", SHIPPED)
def test_complete_loadable_by_name_and_answers_its_warmup_requests(name, loaded):
    model = loaded[name]
    assert catalog.check_shipped(name) == catalog.SHIPPED_DIR / name
    assert model.metadata["task"] == read_manifest(catalog.SHIPPED_DIR)[name]["task"]
    requests = read_warmup_requests(model.path)
    assert requests
    for signature_name, inputs in requests:
        outputs = model(inputs, signature_name=signature_name)
        assert set(outputs) == set(model.output_specs(signature_name))
        for value in outputs.values():
            assert value.dtype.kind not in "fc" or np.all(np.isfinite(value))


@pytest.mark.parametrize("name", SHIPPED)
def test_card_metrics_equal_the_exports_metadata(name, loaded):
    card = (catalog.SHIPPED_DIR / name / cards.CARD_FILE).read_text()
    metrics = loaded[name].metadata["test_metrics"]
    assert card_metrics(card) == {key: cards.format_metric(value) for key, value in metrics.items()}
    assert (catalog.SHIPPED_DIR / name / "figure.png").read_bytes()[:4] == b"\x89PNG"
    assert f'zoo.load("{name}")' in card


def test_zoo_serve_answers_every_shipped_model_as_zoo_load_does(loaded):
    client, repository, stop = start_rest_server(catalog.SHIPPED_DIR)
    try:
        assert set(SHIPPED) <= set(repository.model_names())
        for name in SHIPPED:
            signature_name, inputs = read_warmup_requests(loaded[name].path)[0]
            status, body = client.predict(f"/v1/models/{name}", row_request(inputs))
            assert status == 200, body
            expected = loaded[name](inputs, signature_name=signature_name)
            predictions = body["predictions"]
            for output, value in expected.items():
                if value.dtype.kind == "f":
                    served = np.array([row[output] for row in predictions] if isinstance(predictions[0], dict)
                                      else predictions)
                    np.testing.assert_allclose(served, value, rtol=1e-5, atol=1e-5)
    finally:
        stop()


def test_models_config_lists_the_shipped_models_for_the_serving_container():
    config = (catalog.SHIPPED_DIR / "models.config").read_text()
    for name in SHIPPED:
        assert f'base_path: "/models/{name}"' in config


def shipped_of(task):
    return [name for name in SHIPPED if read_manifest(catalog.SHIPPED_DIR)[name]["task"] == task]


@pytest.mark.parametrize("name", shipped_of("forecasting"))
def test_forecaster_scores_its_cards_owa_on_m4_hourly(name, loaded):
    from tasks.forecasting.layers import last_values
    from tasks.forecasting.m4 import forecast_scores, load_m4

    series, _ = load_m4(require_data("m4_hourly"), "Hourly")
    metadata = loaded[name].metadata
    histories = last_values(series.insamples, metadata["config"]["input_window"])
    forecasts = loaded[name](history=histories)["forecast"]
    assert forecast_scores(series, forecasts)["model"]["owa"] == pytest.approx(metadata["test_metrics"]["owa"],
                                                                                abs=1e-4)


@pytest.mark.parametrize("name", shipped_of("sentiment"))
def test_sentiment_model_scores_near_its_card_on_imdb(name, loaded):
    from zoo.data import read_table

    rows = read_table(require_data("imdb", "test.csv.gz"), ["text", "label"])[:1000]
    probabilities = loaded[name](text=[row["text"] for row in rows])["probabilities"]
    accuracy = np.mean(probabilities.argmax(-1) == np.array([int(row["label"]) for row in rows]))
    assert accuracy == pytest.approx(loaded[name].metadata["test_metrics"]["test_accuracy"], abs=0.04)


@pytest.mark.parametrize("name", shipped_of("ctc_speech"))
def test_speech_model_recognises_the_fsdd_test_takes_as_its_card_says(name, loaded):
    import zoo.task
    from tasks.ctc_speech.ctc import decode_labels, error_rates

    task = zoo.task.get_task("ctc_speech")
    # through stored_config, as every reader of an export's config: settings added since take their defaults.
    # The test takes are FSDD's: the Speech Commands voices it trained with are not needed.
    stored = zoo.task.stored_config(task, loaded[name].metadata["config"])
    stored.pop("speech_commands_dir", None)
    config = zoo.task.resolve_config(task, **{**stored, "data_dir": str(require_data("fsdd")), "test_utterances": 64})
    data = task.build_inputs(config)
    references, hypotheses = [], []
    for inputs, labels in data.test:
        outputs = loaded[name](waveform=inputs["waveform"].numpy(), length=inputs["length"].numpy())
        references += [decode_labels(row, config["alphabet"]) for row in labels.numpy()]
        hypotheses += [text.decode() for text in outputs["text"]]
    assert error_rates(references, hypotheses)["cer"] <= loaded[name].metadata["test_metrics"]["cer"] + 0.02
    assert json.dumps(config["alphabet"]) == json.dumps("0123456789")


@pytest.mark.parametrize("name", shipped_of("language_model"))
def test_language_model_scores_held_out_reviews_near_its_cards_perplexity(name, loaded):
    """Its `score` of 100 of its held-out test reviews, each read whole (the card's figure is of
    70-word windows, each from a zero state: a whole review gives more context, so no higher)."""
    import math

    from tasks.language_model.corpus import read_texts

    config = {**loaded[name].metadata["config"], "data_dir": str(require_data("imdb"))}
    texts = read_texts(config).test[:100]
    scores = loaded[name](text=texts, signature_name="score")
    perplexity = math.exp(-scores["log_probability"].sum() / scores["words"].sum())
    assert 0.5 < perplexity / loaded[name].metadata["test_metrics"]["test_perplexity"] < 1.05


def test_the_speech_models_on_device_step_streams_as_its_saved_model():
    """The shipped ctc_speech-fsdd-gru carries its LiteRT step (zoo.edge; ONNX is one command away:
    the shipped models' size budget)."""
    from tasks.ctc_speech.streaming import greedy_text, stream_logits
    from tests.test_edge import assert_close, saved_stream
    from zoo.edge import EdgeModel

    saved = zoo.load("ctc_speech-fsdd-gru")
    alphabet = saved.metadata["config"]["alphabet"]
    inputs = dict(read_warmup_requests(saved.path))["serving_default"]
    assert set(saved.metadata["edge"]["files"]) == {"step.tflite"}
    step = EdgeModel(saved.path / "edge" / "step.tflite")
    for row in range(len(inputs["length"])):
        length = int(inputs["length"][row])
        waveform = inputs["waveform"][row, :length]
        whole = saved(waveform=waveform[None], length=[length])
        (_, chunk), _ = step.inputs["audio"]
        logits = stream_logits(step, waveform)
        streamed, text = saved_stream(saved, waveform, chunk)
        assert_close(logits, streamed)
        assert greedy_text(logits, alphabet) == text == whole["text"][0].decode()
        assert_close(logits[: length // chunk], whole["logits"][0, : length // chunk])
