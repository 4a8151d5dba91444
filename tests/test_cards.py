"""Model cards: metric formatting, the Markdown table, and a card rendered from an export."""

from tests.conftest import card_metrics
from zoo import cards, loading


def test_markdown_table_lines():
    assert cards.markdown_table(["cell", "seeds", "T=50"], [["gru", 3, "0.012 ✓"], ["lstm", 2, "–"]]) == [
        "| cell | seeds | T=50 |",
        "|---|---|---|",
        "| gru | 3 | 0.012 ✓ |",
        "| lstm | 2 | – |",
    ]
    assert cards.markdown_table(["a"], []) == ["| a |", "|---|"]


def test_metrics_read_as_cards_show_them():
    assert [cards.format_metric(v) for v in (0.43963, 1939.7, 648336, None, "x")] == [
        "0.4396", "1,939.7", "648,336", "None", "x"]
    assert cards.seed_text(0) == "seed 0" and cards.seed_text("0, 1, 2") == "seeds 0, 1, 2"


def test_a_rendered_card_holds_the_exports_metrics_signatures_and_examples(tiny_exports):
    model = loading.load(tiny_exports["forecasting"].path)
    model.metadata["test_metrics"] = {"owa": 0.43963, "smape": 10.189, "parameters": 210, "train_seconds": 120.4}
    facts = {
        "summary": "A tiny forecaster.", "task_line": "forecasting", "data": [("data", "synthetic")],
        "architecture": "GRU 4", "command": "python train.py --task forecasting", "build_seconds": 120,
        "baseline_header": ("method", "OWA"), "baselines": [("sNaive", "0.9")], "not_for": ["Real series."],
        "picture": "figure.png", "picture_caption": "forecasts", "examples": {"serving_default": {"history": [[1.0, 2.0]]}},
    }
    card = cards.render(model, facts)
    assert card_metrics(card) == {"owa": "0.4396", "smape": "10.1890", "parameters": "210",
                                         "train_seconds": "120.4"}
    assert card.startswith("# forecasting-tiny\n\nA tiny forecaster.")
    assert "| `history` | in | float32 | [batch, any] |" in card and "| `forecast` | out | float32 | [batch, 6] |" in card
    assert """curl -d '{"inputs": {"history": [[1.0, 2.0]]}}'""" in card
    assert "2 min of training here" in card and "- Real series." in card


def test_the_on_device_section_lists_the_files_and_replaces_an_older_one():
    record = {
        "quantize": None,
        "signatures": {"step": {"inputs": {"audio": "float32[1, 320]", "state": "float32[1, 874]"},
                                "outputs": {"logits": "float32[1, 1, 11]", "next_state": "float32[1, 874]"}}},
        "files": {"step.tflite": {"signature": "step", "format": "litert", "bytes": 2_982_892, "max_difference": 1.2e-4},
                  "step.onnx": {"signature": "step", "format": "onnx", "bytes": 3_254_973, "max_difference": 1.2e-4}},
        "about": "Greedy CTC on the logits.",
    }
    section = cards.edge_section(record, "1")
    assert "| `1/edge/step.tflite` | LiteRT | 2.98 MB | 0.00012 |" in section
    assert "- `step`: in `audio` float32[1, 320], `state` float32[1, 874]; out `logits` float32[1, 1, 11]" in section
    card = "# m\n\n## Signatures\n\ntext\n"
    once = cards.with_section(card, cards.EDGE_HEADING, section)
    assert once.startswith(card.rstrip()) and once.count(cards.EDGE_HEADING) == 1
    again = cards.with_section(once + "\n## Later\n\nkept\n", cards.EDGE_HEADING, section.replace("2.98", "9.99"))
    assert again.count(cards.EDGE_HEADING) == 1 and "9.99 MB" in again and "## Later\n\nkept" in again
