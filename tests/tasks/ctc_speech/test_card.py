"""The speech cards' speaker-disjoint figures, read from benchmarks/ctc_speech.py's rows."""

import csv

from tasks.ctc_speech import card

RECIPE = ["--units", "256", "--speech-commands-share", "0.25"]
SHIPPED = [*RECIPE, "--speech-commands-fold", "none"]


def write_rows(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["name", "cer", "isolated_accuracy", "command"])
        writer.writeheader()
        writer.writerows(rows)


def row(name, flags, cer="0.1", accuracy=""):
    held_out = ["--speech-commands-fold", name.removeprefix("sc-fold-")] if name.startswith("sc-fold-") else []
    command = " ".join(["python train.py --task ctc_speech --data fsdd", *held_out, "--quiet", *flags,
                        "--data-dir d --speech-commands-dir s"])
    return {"name": name, "cer": cer, "isolated_accuracy": accuracy, "command": command}


def test_a_shipped_recipe_quotes_the_fold_runs_of_its_own_flags_the_newest_of_each(tmp_path):
    path = tmp_path / "rows.csv"
    write_rows(path, [row("sc-fold-0", RECIPE, accuracy="0.80"), row("sc-fold-1", RECIPE, accuracy="0.90"),
                      row("sc-fold-0", RECIPE, accuracy="0.85"),  # newer: it counts
                      row("sc-fold-2", ["--units", "128", "--speech-commands-share", "0.25"], accuracy="0.5"),
                      row("loso-theo", RECIPE, cer="0.07")])
    assert card.recipe_flags(SHIPPED) == RECIPE
    assert card.speech_commands_figures(SHIPPED, path) == {0: 0.85, 1: 0.90}
    assert card.unseen_voice_figures(SHIPPED, path) == {"theo": 0.07}


def test_the_card_line_gives_the_mean_over_the_folds_measured_and_how_to_run_one(tmp_path):
    path = tmp_path / "rows.csv"
    write_rows(path, [row("sc-fold-0", RECIPE, accuracy="0.80"), row("sc-fold-3", RECIPE, accuracy="0.90")])
    measure, value = card.speech_commands_line(SHIPPED, "gru", path)
    assert value == "85.0%" and "fold 0 80.0%, fold 3 90.0%; 2 of 5 folds" in measure
    assert "benchmarks/ctc_speech.py sc-fold-0 -- --units 256 --speech-commands-share 0.25`" in measure
    assert "trained by this recipe with a GRU without" in card.speech_commands_line(SHIPPED, "lstm", path)[0]
    write_rows(path, [])
    assert card.speech_commands_line(SHIPPED, "gru", path) is None
