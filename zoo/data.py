"""Readers of local CSV/TSV files (optionally gzipped), with errors that name the file, row and column.

The tasks' own readers (IMDB, series files, FSDD, ...) live in their packages and build on these."""

import csv
import gzip
import io
import pathlib
import sys

TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")


def find_table(folder, stem):
    """`folder/stem.csv`, `.tsv`, or either gzipped; a clear error if none is there (or `folder` is a file)."""
    folder = pathlib.Path(folder)
    if folder.is_file():
        raise FileNotFoundError(f"--data-dir {folder} is a file; give the folder that holds it (and the other "
                                f"split): {folder.parent}.")
    for suffix in TABLE_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(
        f"no {stem} file in {folder}: expected one of "
        + ", ".join(f"{stem}{s}" for s in TABLE_SUFFIXES)
    )


def read_text(path):
    """The text of a (optionally gzipped) file; errors name the file and line."""
    path = pathlib.Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:  # EOFError: a truncated .gz
        raise ValueError(f"{path}: cannot read ({error or type(error).__name__})") from error
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{path}, line {line}: bytes that are not UTF-8 ({raw[error.start:error.start + 4]!r}); "
            "re-save the file as UTF-8."
        ) from error


def _delimiter(path):
    return "\t" if ".tsv" in pathlib.Path(path).name else ","


def read_rows(path):
    """(line number, fields) for each non-empty row of a CSV/TSV file, header included."""
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=_delimiter(path))
    rows = [(reader.line_num, row) for row in reader if row]
    if not rows:
        raise ValueError(f"{path}: empty file.")
    return rows


def read_table(path, columns):
    """Rows of a CSV/TSV file (optionally gzipped) as dicts holding `columns`.

    Raises ValueError naming the file (and row) for an empty file, a missing
    column, a short row or bytes that are not UTF-8.
    """
    path = pathlib.Path(path)
    csv.field_size_limit(sys.maxsize)
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""), delimiter=_delimiter(path))
    if not reader.fieldnames:
        raise ValueError(f"{path}: empty file; expected a header with columns {list(columns)}.")
    missing = [c for c in columns if c not in reader.fieldnames]
    if missing:
        raise ValueError(
            f"{path}: no column(s) {missing}; the header has {reader.fieldnames}."
        )
    rows = []
    for row in reader:
        if any(row[c] is None for c in columns):
            raise ValueError(
                f"{path}, row {reader.line_num}: too few fields for columns {list(columns)}."
            )
        rows.append({c: row[c] for c in columns})
    if not rows:
        raise ValueError(f"{path}: header only, no data rows.")
    return rows
