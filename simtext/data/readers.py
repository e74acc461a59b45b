"""Read CSV, TSV, JSON Lines, Parquet files and Hub datasets into rows that remember their line.

CSV, TSV and JSON Lines are parsed here with the standard library rather than
through `datasets`' loaders, because those loaders do not report the line of a
bad row, and every input error must name file, line and column. Parquet files
and Hub datasets go through `datasets`, and their rows are named by row number.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMATS = ("csv", "tsv", "jsonl", "parquet")
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}

# Abstracts and long passages exceed the csv module's default limit of 131,072 characters.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class DataError(ValueError):
    """Invalid input data, with the place it was found and the expected form."""

    def __init__(self, source: str, message: str, line: int | None = None, column: str | None = None):
        place = source
        if line is not None:
            place += f", line {line}"
        if column is not None:
            place += f", column {column!r}"
        super().__init__(f"{place}: {message}")
        self.source = source
        self.line = line
        self.column = column


@dataclass
class Table:
    """Rows of one file or Hub split, each with the line (or row number) it came from."""

    source: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    line_label: str = "line"

    def __len__(self) -> int:
        return len(self.rows)

    def error(self, index: int, message: str, column: str | None = None) -> DataError:
        """Build a `DataError` that names row `index` of this table."""
        if self.line_label == "line":
            return DataError(self.source, message, line=self.lines[index], column=column)
        return DataError(f"{self.source}, row {self.lines[index]}", message, column=column)


def infer_format(path: Path, format: str | None = None) -> str:
    """Return the file format: `format` when given, else the one the suffix implies."""
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"Unknown data format {format!r} for {path}. Use one of: {', '.join(FORMATS)}.")
        return format
    inferred = _SUFFIX_FORMATS.get(path.suffix.lower())
    if inferred is None:
        raise ValueError(
            f"Cannot tell the format of {path} from its suffix {path.suffix!r}. Name it with one of "
            f"{', '.join(sorted(_SUFFIX_FORMATS))} or set `format` to one of: {', '.join(FORMATS)}."
        )
    return inferred


def read_table(path: str | Path, format: str | None = None, quoting: bool | None = None) -> Table:
    """Read a local file into a `Table`.

    `quoting` applies to CSV and TSV: by default CSV fields may be quoted (RFC 4180)
    and TSV fields are taken literally, because TSV corpora such as MSRP contain raw
    `"` characters. A UTF-8 byte-order mark at the start of a file is dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Data file {path} not found. Check the path and the data directory.")
    format = infer_format(path, format)
    if format in ("csv", "tsv"):
        return _read_delimited(path, "," if format == "csv" else "\t", quoting if quoting is not None else format == "csv")
    if format == "jsonl":
        return _read_json_lines(path)
    return _read_parquet(path)


def _read_delimited(path: Path, delimiter: str, quoting: bool) -> Table:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(str(path), "the file is empty; expected a header line naming the columns") from None
        table = Table(str(path), [name.strip() for name in header])
        _check_header(table)

        row_start = reader.line_num + 1
        try:
            for values in reader:
                if values:
                    _append_delimited_row(table, values, row_start)
                row_start = reader.line_num + 1
        except csv.Error as error:
            raise DataError(str(path), f"malformed row ({error}); check the quoting", line=row_start) from None
    return table


def _check_header(table: Table) -> None:
    seen = set()
    for name in table.columns:
        if not name:
            raise DataError(table.source, "the header has an empty column name", line=1)
        if name in seen:
            raise DataError(table.source, f"the header names column {name!r} twice", line=1)
        seen.add(name)


def _append_delimited_row(table: Table, values: list[str], line: int) -> None:
    if len(values) != len(table.columns):
        raise DataError(
            table.source,
            f"expected {len(table.columns)} fields ({', '.join(table.columns)}) but found {len(values)}; "
            "check the delimiter and quoting of this row",
            line=line,
        )
    table.rows.append(dict(zip(table.columns, values)))
    table.lines.append(line)


def _read_json_lines(path: Path) -> Table:
    table = Table(str(path), [])
    columns: dict[str, None] = {}
    with path.open(encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(str(path), f"invalid JSON ({error.msg}); expected one JSON object per line", line=line_number) from None
            if not isinstance(row, dict):
                raise DataError(str(path), f"expected a JSON object per line, found {type(row).__name__}", line=line_number)
            columns.update(dict.fromkeys(row))
            table.rows.append(row)
            table.lines.append(line_number)
    table.columns = list(columns)
    return table


def _read_parquet(path: Path) -> Table:
    from datasets import Dataset

    dataset = Dataset.from_parquet(str(path))
    return _table_from_dataset(str(path), dataset)


def read_hub_dataset(name: str, split: str, subset: str | None = None) -> Table:
    """Read one split of a Hub dataset (or a local dataset script or folder) through `datasets.load_dataset`."""
    from datasets import load_dataset

    try:
        dataset = load_dataset(name, subset, split=split)
    except (ConnectionError, FileNotFoundError, OSError, ValueError) as error:
        raise DataError(
            f"Hub dataset {name!r} (subset {subset!r}, split {split!r})",
            f"loading failed: {error}. Check the name and split, or download it while online.",
        ) from None
    return _table_from_dataset(f"Hub dataset {name!r} split {split!r}", dataset)


def _table_from_dataset(source: str, dataset) -> Table:
    table = Table(source, list(dataset.column_names), line_label="row")
    table.rows = dataset.to_list()
    table.lines = list(range(1, len(table.rows) + 1))
    return table
