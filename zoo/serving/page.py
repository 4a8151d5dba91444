"""The zoo's page in `zoo serve` (off with `--no-ui`): the models it serves, each with its card and a try-it panel.

    GET /                        the models: name, task, versions and their state, size, headline metric
    GET /models/<name>/          its card (the folder's README.md) with its picture, and the try-it panel
    GET /models/<name>/<x>.png   a picture of the model folder (the card's figure)
    GET /static/<file>           the page's script and style (static/, shipped in the package)

The pages are rendered here (Jinja, escaped); a card's Markdown is rendered with markdown-it-py with raw
HTML off, so what a model folder holds is shown as text, never run as markup (a folder is data). The
try-it panel (static/page.js) builds itself from the model's signature metadata
(`/v1/models/<name>/metadata`) and calls the same REST API a client calls (`:predict`), so what it
shows is what a client gets, errors included. Every page answer carries a strict Content-Security-Policy:
script, style, pictures and requests from this server only; no inline script, no frames, no plugins.
"""

import re

import flask
from markdown_it import MarkdownIt
from tensorflow_serving.apis import get_model_status_pb2

from zoo import cards
from zoo.layout import is_shipped
from zoo.serving.errors import ServingError
from zoo.task import get_task

CARD_FILE = cards.CARD_FILE  # README.md in a model's folder
PICTURE_NAME = re.compile(r"[A-Za-z0-9_.-]+\.png")  # what /models/<name>/<file> serves: the folder's own pictures
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                               "connect-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STATE_NAMES = get_model_status_pb2.ModelVersionStatus.State.Name


def add_page(app, repository):
    """Adds the page's routes to the REST app `app` (whose API paths, /v1/..., stay as they are)."""
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")

    @app.after_request
    def secure(response):
        if not flask.request.path.startswith("/v1/"):
            response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/")
    def index():
        return flask.render_template("index.html", models=[summary(repository, name) for name in
                                                           repository.model_names()],
                                     base_path=str(repository.base_path))

    @app.get("/models/<name>")
    def model_without_slash(name):
        return flask.redirect(f"/models/{name}/", 308)  # so the card's relative links find its folder

    @app.get("/models/<name>/")
    def model_page(name):
        try:
            facts = summary(repository, name)
        except ServingError as error:  # a person followed a link: a page, not JSON
            return flask.render_template("missing.html", message=error.message), error.status
        card = repository.base_path / name / CARD_FILE
        card_html = markdown.render(card.read_text(encoding="utf-8")) if card.is_file() else None
        return flask.render_template("model.html", model=facts, card_html=card_html)

    @app.get("/models/<name>/<file>")
    def model_picture(name, file):
        folder = repository.base_path / name
        if name not in repository.model_names() or not PICTURE_NAME.fullmatch(file) or not (folder / file).is_file():
            flask.abort(404)
        # absolute: Flask reads a relative folder from the package, not from where zoo serve runs
        return flask.send_from_directory(folder.resolve(), file, mimetype="image/png")


def summary(repository, name):
    """What the list and the model page say of model `name`: task, versions and states, size, headline metric,
    the classes it tells apart (for the panel); a model the repository does not know is a 404."""
    if name not in repository.model_names():
        raise ServingError(f"Could not find any versions of model {name}", 404)
    versions = [(status.version, STATE_NAMES(status.state)) for status in repository.status(name).model_version_status]
    facts = {"name": name, "versions": versions, "shipped": is_shipped(repository.base_path / name),
             "size_mb": cards.size_on_disk(repository.base_path / name) / 1e6, "task": None, "metric": None,
             "value": None, "classes": [], "sample_rate": None, "has_card": (repository.base_path / name / CARD_FILE).is_file()}
    try:
        model = repository.resolve(name)
    except ServingError:  # no version available (yet): the states say why
        return facts
    task_name = model.metadata.get("task")
    data = model.metadata.get("data", {})
    facts.update(task=task_name, version=model.version, classes=data.get("classes") or [],
                 sample_rate=data.get("sample_rate"))
    try:
        metric = get_task(task_name).metric.name
    except ValueError:  # a task this installation does not have: its answers still serve
        return facts
    value = model.metadata.get("test_metrics", {}).get(metric)
    facts.update(metric=metric, value=cards.format_metric(value) if value is not None else None)
    return facts
