"""zoo.serving.page: the list of models, each model's card and panel, the security headers, --no-ui."""

import json
import pathlib
import shutil

import pytest

from zoo.serving import ModelRepository, create_app


@pytest.fixture(scope="module")
def served(tiny_exports, tmp_path_factory):
    """A Flask test client of a repository holding copies of the tiny exports, one with a card and a figure."""
    base = tmp_path_factory.mktemp("page")
    for export in tiny_exports.values():
        shutil.copytree(export.path.parent, base / export.path.parent.name)
    card = base / "sentiment-tiny" / "README.md"
    card.write_text("# sentiment-tiny\n\n| data | IMDB |\n|---|---|\n| split | 90/10 |\n\n"
                    "<script>alert('card')</script>\n\n[bad](javascript:alert(1)) ![its figure](figure.png)\n")
    (base / "sentiment-tiny" / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 16)
    repository = ModelRepository(base)
    repository.refresh()
    yield create_app(repository).test_client(), tiny_exports
    repository.stop()


def test_the_list_shows_every_served_model_with_its_task_versions_and_metric(served):
    client, exports = served
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    for task_name, export in exports.items():
        name = export.path.parent.name
        assert f'<a href="/models/{name}/">{name}</a>' in text
        assert f"<td>{task_name}</td>" in text
    assert "1: AVAILABLE" in text


def test_a_model_page_renders_its_card_escaped_and_builds_its_panel_from_its_facts(served):
    client, _ = served
    assert client.get("/models/sentiment-tiny").status_code == 308  # to the folder, where relative links work
    page = client.get("/models/sentiment-tiny/")
    text = page.get_data(as_text=True)
    assert "<table>" in text and "<td>90/10</td>" in text  # Markdown tables rendered
    assert "<script>alert" not in text and "&lt;script&gt;alert('card')&lt;/script&gt;" in text
    assert 'href="javascript:' not in text and '<img src="figure.png" alt="its figure"' in text
    facts = json.loads(text.split('id="model-facts">')[1].split("</script>")[0])
    assert facts == {"name": "sentiment-tiny", "task": "sentiment", "classes": ["negative", "positive"],
                     "sample_rate": None}
    assert '<script src="/static/page.js"></script>' in text
    assert client.get("/models/sentiment-tiny/figure.png").data.startswith(b"\x89PNG")
    assert "has no card" in client.get("/models/forecasting-tiny/").get_data(as_text=True)
    missing = client.get("/models/nothing-here/")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "Could not find any versions of model nothing-here" in missing.get_data(as_text=True)


@pytest.mark.parametrize("path, status", [
    ("/models/nothing-here/", 404), ("/models/sentiment-tiny/README.md", 404),
    ("/models/sentiment-tiny/..%2F..%2Fetc%2Fpasswd.png", 404), ("/models/sentiment-tiny/other.png", 404),
])
def test_only_a_served_models_own_pictures_are_files_to_fetch(served, path, status):
    client, _ = served
    assert client.get(path).status_code == status


def test_pages_carry_a_strict_content_security_policy_and_the_api_is_unchanged(served):
    client, _ = served
    for path in ("/", "/models/sentiment-tiny/", "/static/page.js", "/static/vendor/uplot-1.6.32/uPlot.iife.min.js"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and answer.headers["X-Content-Type-Options"] == "nosniff"
    status = client.get("/v1/models/sentiment-tiny")
    assert status.status_code == 200 and "Content-Security-Policy" not in status.headers
    assert status.get_json()["model_version_status"][0]["state"] == "AVAILABLE"


def test_a_relative_model_folder_serves_its_pictures(tiny_exports, tmp_path, monkeypatch):
    """zoo serve's default base path is relative (./saved_models): the pictures are read from there."""
    shutil.copytree(tiny_exports["sentiment"].path.parent, tmp_path / "models" / "sentiment-tiny")
    (tmp_path / "models" / "sentiment-tiny" / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"1" * 8)
    monkeypatch.chdir(tmp_path)
    repository = ModelRepository(pathlib.Path("models"))
    repository.refresh()
    answer = create_app(repository).test_client().get("/models/sentiment-tiny/figure.png")
    assert answer.status_code == 200 and answer.data.startswith(b"\x89PNG")
    repository.stop()


def test_no_ui_answers_the_api_alone(tiny_exports):
    base = next(iter(tiny_exports.values())).path.parent.parent
    repository = ModelRepository(base)
    repository.refresh()
    client = create_app(repository, ui=False).test_client()
    assert client.get("/").status_code == 404 and client.get("/static/page.js").status_code == 404
    assert client.get("/models/sentiment-tiny/").status_code == 404
    assert client.get("/v1/models/sentiment-tiny").status_code == 200
    repository.stop()


def test_the_vendored_chart_library_ships_with_its_licence():
    from zoo.serving import page

    vendor = page.__file__.rsplit("/", 1)[0] + "/static/vendor/uplot-1.6.32/"
    assert "MIT License" in open(vendor + "LICENSE").read()
    assert open(vendor + "uPlot.iife.min.js").read().startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
