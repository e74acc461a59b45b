"""Checked access to the columns of an evaluation table, so that every bad value is reported with its file, line and column."""

from __future__ import annotations

import math

from simtext.data.readers import DataError, Table


def require_columns(table: Table, columns: list[str]) -> None:
    """Raise `DataError` naming the file unless `table` has every column in `columns`."""
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise DataError(
            table.source,
            f"missing column(s) {', '.join(map(repr, missing))}; found {', '.join(map(repr, table.columns))}. "
            "Rename the columns in the file or set the column names of the task.",
        )


def text_value(table: Table, index: int, column: str) -> str:
    """Return the text in `column` of row `index`, raising `DataError` if it is missing, not a string or blank."""
    value = table.rows[index].get(column)
    if not isinstance(value, str):
        raise table.error(index, f"expected text, found {value!r}", column)
    if not value.strip():
        raise table.error(index, "the text is empty; remove the row or fill in the text", column)
    return value


def id_value(table: Table, index: int, column: str) -> str:
    """Return the identifier in `column` of row `index` as a string, accepting JSON integers as ids."""
    value = table.rows[index].get(column)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise table.error(index, f"expected a string id, found {value!r}", column)
    value = str(value)
    if not value.strip():
        raise table.error(index, "the id is empty", column)
    return value


def number_value(table: Table, index: int, column: str) -> float:
    """Return the number in `column` of row `index`, raising `DataError` unless it is a finite number."""
    value = table.rows[index].get(column)
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise table.error(index, f"expected a finite number, found {value!r}", column)
    return number
