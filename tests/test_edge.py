"""`zoo.edge`: every task's export as LiteRT and ONNX, equal to the SavedModel on its warm-up
examples; the streaming step on-device; what each bad model, format or input gets."""

import json
import stat

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tasks.ctc_speech.streaming import audio_chunks, greedy_text, stream_logits
from tests.conftest import export_tiny
from zoo import edge
from zoo.edge import EDGE_DIR, EdgeError, EdgeModel
from zoo.export.__main__ import main as export_main
from zoo.layout import METADATA_FILE, read_warmup_requests

# |LiteRT or ONNX - SavedModel| <= TOLERANCE * (1 + |SavedModel|): float32 round-off of
# another kernel order (the SavedModel runs the fused loops, the files unrolled ones).
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """{task name: (SavedModel, its version folder)} of tiny exports, each converted to both formats."""
    base = tmp_path_factory.mktemp("edge_models")
    models = {}
    for task_name in ("sentiment", "forecasting", "ctc_speech"):
        path = export_tiny(task_name, base).path
        edge.convert(path, ["litert", "onnx"])
        models[task_name] = (zoo.load(path), path)
    return models


def assert_close(actual, expected):
    actual, expected = np.asarray(actual, "float64"), np.asarray(expected, "float64")
    assert actual.shape == expected.shape
    assert np.all(np.abs(actual - expected) <= TOLERANCE * (1 + np.abs(expected))), np.abs(actual - expected).max()


def edge_files(path, signature):
    return [EdgeModel(path / EDGE_DIR / f"{signature}{suffix}") for suffix in (".tflite", ".onnx")]


def warmup(path):
    return dict(read_warmup_requests(path))["serving_default"]


def test_forecasting_files_forecast_as_the_saved_model(converted):
    saved, path = converted["forecasting"]
    histories = warmup(path)["history"]
    for model in edge_files(path, "serving_default"):
        for row in range(len(histories)):
            expected = saved(history=histories[row : row + 1])["forecast"]
            assert_close(model(history=histories[row : row + 1])["forecast"], expected)
        shorter = histories[:1, 5:]  # any history length: the input's time dimension is free
        assert_close(model(history=shorter)["forecast"], saved(history=shorter)["forecast"])


def test_sentiment_files_take_token_ids_and_classify_as_the_saved_model(converted):
    from tasks.sentiment.task import edge_inputs

    saved, path = converted["sentiment"]
    task, config, rebuilt = edge.rebuild(saved)
    texts = [text.decode() for text in warmup(path)["text"]] + ["", "an unseen word: zyzzyva!"]
    for model in edge_files(path, "serving_default"):
        assert set(model.inputs) == {"tokens", "ngram_ids"}
        for text in texts:
            expected = saved(text=[text])["probabilities"]
            assert_close(model(**edge_inputs(rebuilt, config, text))["probabilities"], expected)
    vocabulary = (path / EDGE_DIR / "vocabulary.txt").read_text().split("\n")[:-1]
    ngrams = (path / EDGE_DIR / "ngram_vocabulary.txt").read_text().split("\n")[:-1]
    tokens, ngram_tokens = saved.vocabularies()  # the SavedModel's lookup tables, by id
    assert vocabulary == ["", "[UNK]", *tokens] and ngrams == ["[UNK]", *ngram_tokens]




def saved_stream(saved, waveform, chunk):
    """(logits, text) of `waveform` streamed through the SavedModel's own `step` signature."""
    state = saved(batch_size=1, signature_name="initial_state")["state"]
    logits, text = [], b""
    for audio in audio_chunks(waveform, chunk):
        outputs = saved(audio=audio, state=state, signature_name="step")
        state, text = outputs["state"], text + outputs["text"][0]
        logits.append(outputs["logits"][0])
    return np.concatenate(logits), text.decode()


def test_a_streamed_utterance_gives_the_saved_models_logits_and_text(converted):
    saved, path = converted["ctc_speech"]
    alphabet = saved.metadata["config"]["alphabet"]
    inputs = warmup(path)
    for row in range(len(inputs["length"])):
        length = int(inputs["length"][row])
        waveform = inputs["waveform"][row, :length]
        whole = saved(waveform=waveform[None], length=[length])
        for step in edge_files(path, "step"):
            (_, chunk), _ = step.inputs["audio"]
            logits = stream_logits(step, waveform)
            streamed, text = saved_stream(saved, waveform, chunk)
            assert_close(logits, streamed)  # the SavedModel's step, every frame
            assert greedy_text(logits, alphabet) == text
            # serving_default on the frames whose samples all lie within the utterance (the
            # last chunk's zero padding reaches into a partial last frame)
            complete = length // chunk
            assert_close(logits[:complete], whole["logits"][0, :complete])


def test_the_step_has_builtin_ops_only_and_no_loop(converted, capsys):
    _, path = converted["ctc_speech"]
    capsys.readouterr()
    tf.lite.experimental.Analyzer.analyze(model_path=str(path / EDGE_DIR / "step.tflite"))
    listing = capsys.readouterr().out
    assert "Subgraph#0" in listing and "Subgraph#1" not in listing  # no loop body or condition
    assert "WHILE" not in listing and "Flex" not in listing and "CUSTOM" not in listing


def test_the_conversion_is_recorded_in_edge_json_and_the_metadata(converted):
    saved, path = converted["ctc_speech"]
    record = json.loads((path / EDGE_DIR / "edge.json").read_text())
    assert set(record["files"]) == {"step.tflite", "step.onnx"}
    assert record["signatures"]["step"]["inputs"]["audio"].startswith("float32[1, ")
    assert record["signatures"]["step"]["outputs"] == {"logits": record["signatures"]["step"]["outputs"]["logits"],
                                                       "next_state": record["signatures"]["step"]["inputs"]["state"]}
    assert all(info["max_difference"] <= TOLERANCE * 10 for info in record["files"].values())
    metadata = json.loads((path / "assets.extra" / METADATA_FILE).read_text())
    assert set(metadata["edge"]["files"]) == {"step.tflite", "step.onnx"}
    assert "next_state" in record["about"]


def export_with(task_name, folder, monkeypatch, **overrides):
    """A tiny export of `task_name` with some of its tiny config changed."""
    import tests.conftest as conftest

    monkeypatch.setitem(conftest.SERVING_TASKS, task_name, {**conftest.SERVING_TASKS[task_name], **overrides})
    return export_tiny(task_name, folder).path


def test_dynamic_quantisation_shrinks_the_litert_file_and_stays_close(tmp_path, monkeypatch):
    path = export_with("forecasting", tmp_path, monkeypatch, units=48)  # weights big enough to quantise
    plain = edge.convert(path, ["litert"], output_dir=tmp_path / "float")[0].path
    quantised = edge.convert(path, ["litert"], quantize="dynamic", output_dir=tmp_path / "int8")[0].path
    assert quantised.stat().st_size < plain.stat().st_size  # (the graph, not the weights, dominates here)
    history = warmup(path)["history"][:1]
    expected = zoo.load(path)(history=history)["forecast"]
    assert np.all(np.abs(EdgeModel(quantised)(history=history)["forecast"] - expected) <= 0.1 * (1 + np.abs(expected)))
    assert json.loads((tmp_path / "int8" / "edge.json").read_text())["quantize"] == "dynamic"


def test_the_export_command_writes_the_files(tmp_path, capsys):
    path = export_tiny("forecasting", tmp_path).path
    export_main([str(path), "--format", "onnx"])
    assert f"wrote {path / EDGE_DIR / 'serving_default.onnx'}" in capsys.readouterr().out
    assert sorted(p.name for p in (path / EDGE_DIR).iterdir()) == ["edge.json", "serving_default.onnx"]
    assert stat.S_IMODE((path / EDGE_DIR).stat().st_mode) == stat.S_IMODE(path.stat().st_mode)  # not mkdtemp's 0700
    # Adding a format keeps the other (it was deleted: the edge folder was replaced whole).
    onnx_bytes = (path / EDGE_DIR / "serving_default.onnx").read_bytes()
    export_main([str(path), "--format", "litert"])
    assert sorted(p.name for p in (path / EDGE_DIR).iterdir()) == [
        "edge.json", "serving_default.onnx", "serving_default.tflite"]
    assert (path / EDGE_DIR / "serving_default.onnx").read_bytes() == onnx_bytes
    record = json.loads((path / EDGE_DIR / "edge.json").read_text())
    assert sorted(record["files"]) == ["serving_default.onnx", "serving_default.tflite"]
    assert sorted(zoo.load(path).metadata["edge"]["files"]) == ["serving_default.onnx", "serving_default.tflite"]


def test_a_killed_conversions_staging_folder_is_removed_by_the_next(tmp_path):
    path = export_tiny("forecasting", tmp_path).path
    stale = path / ".edge-staging-abc123-999999999"  # no such process
    stale.mkdir()
    edge.convert(path, ["onnx"])
    assert not stale.exists() and not list(path.glob(".edge-staging-*"))


def test_a_shipped_model_is_converted_elsewhere_and_its_tracked_files_never_change(tmp_path, monkeypatch):
    from zoo import catalog
    from zoo.layout import write_manifest

    shipped_dir = tmp_path / "shipped"
    export_tiny("forecasting", shipped_dir, "forecasting-tiny-shipped")
    write_manifest(shipped_dir, {"forecasting-tiny-shipped": {"task": "forecasting", "cell": "gru"}})
    monkeypatch.setattr(catalog, "SHIPPED_DIR", shipped_dir)
    before = {p: p.read_bytes() for p in sorted(shipped_dir.rglob("*")) if p.is_file()}
    with pytest.raises(SystemExit, match=r"forecasting-tiny-shipped is one of the zoo's shipped models, whose files "
                                         r"git tracks: .* --format onnx --output DIR"):
        export_main([str(shipped_dir / "forecasting-tiny-shipped"), "--format", "onnx"])
    export_main([str(shipped_dir / "forecasting-tiny-shipped"), "--format", "onnx", "--output", str(tmp_path / "mine")])
    assert (tmp_path / "mine" / "serving_default.onnx").is_file()
    assert {p: p.read_bytes() for p in sorted(shipped_dir.rglob("*")) if p.is_file()} == before


# ------------------------------------------------------------------ bad input


def test_a_keras_builtin_layer_is_named_with_the_format(tmp_path, monkeypatch):
    path = export_with("forecasting", tmp_path, monkeypatch, cell="keras_gru")
    with pytest.raises(EdgeError, match=r"layer 'encoder_keras_gru_0' is Keras's built-in GRU \(.*cuDNN kernel, has "
                                        r"no LiteRT form here\); train with the zoo's layers"):
        edge.convert(path, ["litert"])
    assert not (path / EDGE_DIR).exists()


@pytest.mark.parametrize("formats, quantize, message", [
    (["tflite"], None, r"--format tflite: the formats are \['litert', 'onnx'\]"),
    (["litert", "onnx"], "dynamic", "--quantize dynamic applies to LiteRT only"),
])
def test_a_wrong_format_or_quantisation_is_named(converted, formats, quantize, message):
    with pytest.raises(EdgeError, match=message):
        edge.convert(converted["forecasting"][1], formats, quantize)


def test_a_bidirectional_speech_model_is_refused_before_training(tmp_path):
    import train

    with pytest.raises(SystemExit, match="train.py: --formats litert: a bidirectional speech model reads each "
                                         "utterance whole"):
        train.main(["--task", "ctc_speech", "--bidirectional", "--formats", "litert",
                    "--output-dir", str(tmp_path / "runs"), "--export-dir", str(tmp_path / "models")])
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("inputs, message", [
    ({"history": np.zeros((1, 3, 1), "float32")}, r"input 'history' has shape \[1, 3, 1\]; it takes \[1, any\] "
                                                  r"\(float32\)"),
    ({"history": np.array([["a", "b"]])}, "input 'history' takes float32, got <U1 values"),
    ({"values": np.zeros((1, 3), "float32")}, r"takes inputs \['history'\]; got \['values'\]"),
])
def test_a_file_fed_a_wrong_shape_or_dtype_says_so(converted, inputs, message):
    for model in edge_files(converted["forecasting"][1], "serving_default"):
        with pytest.raises(EdgeError, match=message):
            model(**inputs)


def test_a_missing_or_unreadable_file_is_named(tmp_path):
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf")
    for name, message in [("missing.tflite", "no such file"), ("junk.tflite", "not a readable LiteRT file"),
                          ("junk.onnx", "not a readable ONNX file"), ("model.bin", "not a .tflite or .onnx file")]:
        with pytest.raises(EdgeError, match=rf"{name}: {message}"):
            EdgeModel(tmp_path / name)


def test_the_export_command_names_a_config_it_cannot_write(tmp_path):
    export_tiny("forecasting", tmp_path)
    with pytest.raises(SystemExit, match=r"zoo.export: cannot write .*nope/models.config: No such file or directory"):
        export_main([str(tmp_path), "--output", str(tmp_path / "nope" / "models.config")])


# What the SavedModel refuses, the on-device files refuse too (they forecast ~1.02, finite garbage or inf before).
@pytest.mark.parametrize("history, message", [
    (np.full((1, 12), np.nan, "float32"), r"input 'history' row 0 has no value \(all NaN or empty\)"),
    (np.zeros((1, 0), "float32"), r"input 'history' row 0 has no value \(all NaN or empty\)"),  # not FLOOR_MOD's "Division by 0"
    (np.array([[1.0, np.inf, 2.0]], "float32"), r"input 'history' row 0 holds an infinite value"),
    (np.full((1, 12), 3e38, "float32"), r"output 'forecast' is not finite for these inputs"),
])
def test_a_file_refuses_the_histories_the_saved_model_refuses(converted, history, message):
    saved, path = converted["forecasting"]
    with pytest.raises(ValueError):
        saved(history=history)
    for model in edge_files(path, "serving_default"):
        with pytest.raises(EdgeError, match=message):
            model(history=history)


# ------------------------------------------------------------- the example


def test_the_example_streams_a_wav_and_prints_the_digits(converted, capsys, tmp_path):
    import wave

    from examples.stream_litert import main

    saved, path = converted["ctc_speech"]
    inputs = warmup(path)
    samples = inputs["waveform"][0, : int(inputs["length"][0])]
    with wave.open(str(tmp_path / "utterance.wav"), "wb") as file:
        file.setnchannels(1), file.setsampwidth(2), file.setframerate(8000)
        file.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    main([str(tmp_path / "utterance.wav"), "--model", str(path / EDGE_DIR / "step.tflite")])
    out = capsys.readouterr().out
    assert "s of audio in" in out and "(tflite)" in out
    with wave.open(str(tmp_path / "empty.wav"), "wb") as file:  # a recording that holds nothing: no digits
        file.setnchannels(1), file.setsampwidth(2), file.setframerate(8000)
    main([str(tmp_path / "empty.wav"), "--model", str(path / EDGE_DIR / "step.tflite")])
    assert "'': 0.00 s of audio in" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="is not a streaming step"):
        main([str(tmp_path / "utterance.wav"), "--model",
              str(converted["forecasting"][1] / EDGE_DIR / "serving_default.tflite")])
