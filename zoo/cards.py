"""Model cards: the README.md beside a model, written from its export and a few facts.

A card says what the model is for and not for, what data built it and how, what it
scored beside the task's baselines, and how to call each signature (`curl` and
Python). Its "Test metrics" table is written from the version's `zoo_metadata.json`
with `format_metric`, so the two always agree (the tests check it).
"""

import json
import pathlib

from zoo.layout import METADATA_FILE

CARD_FILE = "README.md"
METRICS_HEADING = "## Test metrics"


def format_metric(value):
    """How a metric reads in a card: floats to 4 decimals (1 from 100 on), ints with commas."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4f}"


def markdown_table(header, rows):
    """The lines of a Markdown table: the header, the `|---|` rule, one line per row of cells."""
    line = lambda cells: "| " + " | ".join(str(cell) for cell in cells) + " |"  # noqa: E731
    return [line(header), "|" + "---|" * len(header), *(line(row) for row in rows)]


def seed_text(seeds):
    return f"seeds {seeds}" if "," in str(seeds) else f"seed {seeds}"


def size_on_disk(folder):
    return sum(path.stat().st_size for path in pathlib.Path(folder).rglob("*") if path.is_file())


def signature_section(model, name, example=None):
    """Inputs and outputs of one signature, with a curl and a Python example of a call
    when `example` (`{input: JSON-able value}`) is given."""
    inputs = model.input_specs(name)
    outputs = model.output_specs(name)
    rows = [(f"`{key}`", "in", spec.dtype.name, _shape(spec.shape)) for key, spec in inputs.items()]
    rows += [(f"`{key}`", "out", spec.dtype.name, _shape(spec.shape)) for key, spec in outputs.items()]
    lines = [f"### `{name}`", "", *markdown_table(("tensor", "", "dtype", "shape"), rows)]
    if example is None:
        return "\n".join(lines)
    body = json.dumps({"signature_name": name, "inputs": example} if name != "serving_default"
                      else {"inputs": example})
    python_args = ", ".join(f"{key}={json.dumps(value)}" for key, value in example.items())
    signature_arg = "" if name == "serving_default" else f', signature_name="{name}"'
    model_name = model.path.parent.name
    return "\n".join(lines + [
        "",
        "```bash",
        f"curl -d '{body}' \\",
        f"  localhost:8501/v1/models/{model_name}:predict",
        "```",
        "",
        "```python",
        "import zoo",
        f'model = zoo.load("{model_name}")',
        f"model({python_args}{signature_arg})",
        "```",
    ])


def _shape(shape):
    return "[" + ", ".join("batch" if i == 0 and size is None else ("any" if size is None else str(size))
                           for i, size in enumerate(shape.as_list())) + "]"


def render(model, facts):
    """The card's Markdown for the SavedModel `model` (a `zoo.loading.SavedModel`).

    `facts`: summary, task_line, data (rows of (what, text)), architecture, command,
    build_seconds, baselines (rows of (method, metric texts...), with `baseline_header`),
    not_for (lines), picture and picture_caption (file beside the card), seeds (when
    several runs made it; else the config's seed), examples
    ({signature: inputs} for curl and Python), and optionally usage (more Markdown at
    the end) and parent (the model it was fine-tuned from).
    """
    metadata = model.metadata
    metrics = metadata.get("test_metrics", {})
    config = metadata.get("config", {})
    about = [
        ("task", facts["task_line"]),
        *facts["data"],
        ("architecture", facts["architecture"]),
        ("parameters", format_metric(metrics.get("parameters", 0))),
        ("size on disk", f"{size_on_disk(model.path) / 1e6:.1f} MB (version {model.version})"),
        ("built by", f"`{facts['command']}` ({seed_text(facts.get('seeds', config.get('seed')))}), "
                     f"{facts['build_seconds'] / 60:.0f} min of training here (2 CPU cores)"),
    ]
    if facts.get("parent"):
        about.append(("fine-tuned from", facts["parent"]))
    sections = [
        f"# {model.path.parent.name}",
        "",
        facts["summary"],
        "",
        f"![{facts['picture_caption']}]({facts['picture']})",
        "",
        *markdown_table(("", ""), about),
        "",
        METRICS_HEADING,
        "",
        f"From `{metadata.get('task')}`'s evaluation on the test split (also in "
        f"`{model.version}/assets.extra/{METADATA_FILE}`).",
        "",
        *markdown_table(("metric", "value"), [(f"`{key}`", format_metric(value)) for key, value in metrics.items()]),
        "",
        "## Beside the baselines",
        "",
        *markdown_table(facts["baseline_header"], facts["baselines"]),
        "",
        "## What it is not for",
        "",
        *[f"- {line}" for line in facts["not_for"]],
        "",
        "## Signatures",
        "",
        "Serve it with `zoo serve` (or TF Serving: see the repository README), or load it in Python.",
        "",
    ]
    for name in model.signatures:
        sections += [signature_section(model, name, facts["examples"].get(name)), ""]
    sections += [facts.get("usage", "")]
    return "\n".join(sections).rstrip() + "\n"


EDGE_HEADING = "## On device (LiteRT, ONNX)"


def edge_section(record, version):
    """The card's section on a version's on-device files (`zoo.edge`'s edge.json record)."""
    rows = []
    for name, info in record["files"].items():
        kind = "vocabulary" if info.get("asset") else {"litert": "LiteRT", "onnx": "ONNX"}[info["format"]]
        quantize = info.get("quantize", record.get("quantize"))  # per file since conversions add formats
        if quantize and not info.get("asset"):
            kind += f" ({quantize} int8)"
        difference = "" if info.get("asset") else f"{info['max_difference']:.2g}"
        rows.append((f"`{version}/edge/{name}`", kind, f"{info['bytes'] / 1e6:.2f} MB", difference))
    signatures = [f"- `{name}`: in {', '.join(f'`{k}` {v}' for k, v in about['inputs'].items())}; "
                  f"out {', '.join(f'`{k}` {v}' for k, v in about['outputs'].items())}"
                  for name, about in record["signatures"].items()]
    formats = " ".join(dict.fromkeys(info["format"] for info in record["files"].values() if not info.get("asset")))
    return "\n".join([
        EDGE_HEADING,
        "",
        "Builtin ops only (no Flex delegate), a batch of one; written by "
        f"`python -m zoo.export <model> --format {formats}` (zoo/edge.py), which checked each file "
        "against TensorFlow on the warm-up examples (largest difference below).",
        "",
        *markdown_table(("file", "format", "size", "max difference"), rows),
        "",
        *signatures,
        "",
        record.get("about", ""),
    ]).rstrip() + "\n"


def with_section(card_text, heading, section):
    """The card with `section` (starting with `heading`) in place of its old one, or appended."""
    if heading in card_text:
        before, rest = card_text.split(heading, 1)
        after = rest.split("\n## ", 1)
        tail = "\n## " + after[1] if len(after) > 1 else ""
        return before + section.rstrip() + "\n" + tail
    return card_text.rstrip() + "\n\n" + section
