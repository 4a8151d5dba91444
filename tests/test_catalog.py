"""Models by name: shipped models (manifest, completeness), your own exports, and names exports refuse."""

import shutil

import pytest

import zoo
from zoo import catalog
from zoo.export import refuse_shipped_name
from zoo.layout import read_manifest, write_manifest


@pytest.fixture
def shipped(tiny_exports, tmp_path, monkeypatch):
    """A shipped folder holding the tiny forecasting export as `forecasting-tiny-shipped`."""
    shipped_dir = tmp_path / "shipped"
    shutil.copytree(tiny_exports["forecasting"].path.parent, shipped_dir / "forecasting-tiny-shipped")
    write_manifest(shipped_dir, {"forecasting-tiny-shipped": {"task": "forecasting", "cell": "gru"}})
    monkeypatch.setattr(catalog, "SHIPPED_DIR", shipped_dir)
    monkeypatch.delenv(catalog.MODEL_DIR_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)  # ./saved_models: none yet
    return shipped_dir


def test_manifest_lists_every_file_with_its_size(shipped):
    files = read_manifest(shipped)["forecasting-tiny-shipped"]["files"]
    assert "1/saved_model.pb" in files and "1/assets.extra/zoo_metadata.json" in files
    assert files["1/saved_model.pb"] == (shipped / "forecasting-tiny-shipped/1/saved_model.pb").stat().st_size


def test_load_and_list_by_name_shipped_first_then_yours(shipped, tiny_exports, tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    shutil.copytree(tiny_exports["sentiment"].path.parent, mine / "sentiment-tiny")
    monkeypatch.setenv(catalog.MODEL_DIR_VARIABLE, str(mine))
    models = zoo.list_models()
    assert [(m["name"], m["task"], m["shipped"], m["versions"]) for m in models] == [
        ("forecasting-tiny-shipped", "forecasting", True, [1]),
        ("sentiment-tiny", "sentiment", False, [1]),
    ]
    model = zoo.load("forecasting-tiny-shipped")
    assert model.path == shipped / "forecasting-tiny-shipped" / "1" and model.metadata["task"] == "forecasting"
    assert zoo.load("sentiment-tiny").path == mine / "sentiment-tiny" / "1"
    assert catalog.default_base_path() == mine


def test_a_folder_of_numbered_folders_without_a_saved_model_is_no_model(shipped, tmp_path, monkeypatch):
    proc_like = tmp_path / "proc_like"  # as ZOO_MODEL_DIR=/ sees /proc: numbered folders, no SavedModel
    (proc_like / "proc" / "1").mkdir(parents=True)
    (proc_like / "proc" / "42" / "task").mkdir(parents=True)
    monkeypatch.setenv(catalog.MODEL_DIR_VARIABLE, str(proc_like))
    assert [m["name"] for m in zoo.list_models()] == ["forecasting-tiny-shipped"]


@pytest.mark.parametrize("setting", ["missing", "a_file"])
def test_a_model_dir_setting_that_is_no_folder_is_said_once(shipped, tmp_path, monkeypatch, setting):
    target = tmp_path / setting
    if setting == "a_file":
        target.write_text("")
    monkeypatch.setenv(catalog.MODEL_DIR_VARIABLE, str(target))
    monkeypatch.setattr(catalog, "_SAID", set())
    with pytest.warns(UserWarning, match=rf"\$ZOO_MODEL_DIR is .*{setting}, which is "
                                         rf"{'a file' if setting == 'a_file' else 'missing'}, not a folder of models"):
        names = [m["name"] for m in zoo.list_models()]
    assert names == ["forecasting-tiny-shipped"]


def test_a_corrupt_metadata_file_is_named_and_the_other_models_still_listed(shipped, tiny_exports, tmp_path,
                                                                             monkeypatch):
    mine = tmp_path / "mine"
    shutil.copytree(tiny_exports["sentiment"].path.parent, mine / "sentiment-tiny")
    (mine / "sentiment-tiny" / "1" / "assets.extra" / "zoo_metadata.json").write_text("{broken")
    monkeypatch.setenv(catalog.MODEL_DIR_VARIABLE, str(mine))
    with pytest.warns(UserWarning, match=r"zoo_metadata.json: not readable \(JSONDecodeError"):
        models = zoo.list_models()
    assert [(m["name"], m["task"]) for m in models] == [("forecasting-tiny-shipped", "forecasting"),
                                                        ("sentiment-tiny", None)]


def test_unknown_name_lists_the_known_ones(shipped):
    with pytest.raises(FileNotFoundError, match=r"no model named 'sentiment-imbd-gru'; known models: "
                                                r"\['forecasting-tiny-shipped'\]"):
        zoo.load("sentiment-imbd-gru")


def test_an_incomplete_shipped_model_names_the_model_and_the_missing_files(shipped):
    version = shipped / "forecasting-tiny-shipped" / "1"
    (version / "saved_model.pb").unlink()
    with open(version / "assets.extra" / "zoo_metadata.json", "a") as handle:
        handle.write(" ")
    with pytest.raises(FileNotFoundError) as error:
        zoo.load("forecasting-tiny-shipped")
    message = str(error.value)
    assert message.startswith("shipped model 'forecasting-tiny-shipped' in ")
    assert "1/saved_model.pb is missing" in message
    assert "1/assets.extra/zoo_metadata.json has " in message and "git checkout --" in message


def test_an_export_never_lands_in_a_shipped_models_folder(shipped):
    with pytest.raises(ValueError, match=r"forecasting-tiny-shipped is a shipped model of the zoo"):
        refuse_shipped_name(shipped / "forecasting-tiny-shipped")
    refuse_shipped_name(shipped / "forecasting-gru")  # any other name is fine


def test_zoo_serve_defaults_to_the_shipped_models_outside_a_checkout(shipped):
    assert catalog.default_base_path() == shipped
