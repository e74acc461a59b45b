"""Map a file or Hub split to canonical columns: select, rename, filter, validate, build NLI triplets.

Canonical column sets:

* contrastive pairs and triplets: ``anchor, positive[, negative, negative_2, ...]``
* graded similarity: ``sentence1, sentence2, score``
* pair labels: ``sentence1, sentence2, label``
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset

from simtext.data.readers import DataError, Table, read_hub_dataset, read_table

logger = logging.getLogger(__name__)

TEXT_COLUMNS = ("anchor", "positive", "sentence1", "sentence2")
_NEGATIVE = re.compile(r"^negative(_\d+)?$")
_OPERATORS = {"==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_FILTER = re.compile(r"^\s*(?P<column>.+?)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<value>.*?)\s*$")


@dataclass
class NliTriplets:
    """Column names and label values for building (premise, entailed, contradicted) triplets from NLI rows."""

    premise: str = "premise"
    hypothesis: str = "hypothesis"
    label: str = "label"
    entailment: str = "entailment"
    contradiction: str = "contradiction"
    # Labels that mean "no gold label" (SNLI marks those rows with "-"); such rows are skipped and counted.
    no_gold: list[str] = field(default_factory=lambda: ["-"])


@dataclass
class Source:
    """One file (relative to the data directory) or Hub split, and how to map it to canonical columns.

    `columns` maps a canonical name to the source column it is read from.
    `filter` keeps the rows for which every condition `COLUMN OP VALUE` holds, with
    OP one of == != >= <= > <. `==` and `!=` compare as numbers when both sides parse
    as numbers, else as text; the other operators need numbers on both sides.
    `labels` maps values of the `label` column to new labels, such as
    `{ENTAILMENT: 1, CONTRADICTION: 0}`; rows with any other value are skipped and counted.
    """

    path: str | None = None
    hub: str | None = None
    split: str = "train"
    subset: str | None = None
    format: str | None = None
    quoting: bool | None = None
    columns: dict[str, str] = field(default_factory=dict)
    filter: list[str] = field(default_factory=list)
    labels: dict[str, int] | None = None
    nli_triplets: NliTriplets | None = None


@dataclass
class Condition:
    column: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> "Condition":
        match = _FILTER.match(text)
        if match is None or not match["value"]:
            raise ValueError(
                f"invalid filter {text!r}; expected 'COLUMN OP VALUE' with OP one of "
                f"{' '.join(_OPERATORS)}, for example 'score >= 4' or 'label == ENTAILMENT'"
            )
        condition = cls(match["column"], match["op"], match["value"].strip("'\""))
        if condition.op not in ("==", "!=") and _as_number(condition.value) is None:
            raise ValueError(
                f"invalid filter {text!r}; {condition.op} compares numbers, but {condition.value!r} is not a number"
            )
        return condition

    def holds(self, table: Table, index: int) -> bool:
        actual = table.rows[index][self.column]
        left, right = _as_number(actual), _as_number(self.value)
        if self.op in ("==", "!=") and (left is None or right is None):
            return _OPERATORS[self.op](str(actual).strip(), self.value)
        if left is None or right is None:
            raise table.error(index, f"filter '{self.column} {self.op} {self.value}' needs a number, found {actual!r}", self.column)
        return _OPERATORS[self.op](left, right)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def describe(source: Source) -> str:
    """Return a short human-readable name of `source` for logs and errors."""
    if source.path is not None:
        return source.path
    return f"{source.hub}[{source.split}]"


def canonical_kind(columns: list[str]) -> str:
    """Return `pairs`, `scored` or `labelled` for a canonical column list, or raise ValueError."""
    names = set(columns)
    if {"anchor", "positive"} <= names and all(name in ("anchor", "positive") or _NEGATIVE.match(name) for name in names):
        return "pairs"
    if names == {"sentence1", "sentence2", "score"}:
        return "scored"
    if names == {"sentence1", "sentence2", "label"}:
        return "labelled"
    raise ValueError(
        f"columns {sorted(names)} are not a canonical set. Map source columns to one of: "
        "anchor, positive[, negative, negative_2, ...] (contrastive pairs and triplets); "
        "sentence1, sentence2, score (graded similarity); sentence1, sentence2, label (pair labels)."
    )


def load_source(source: Source, data_dir: Path | None, recipe_field: str | None = None) -> Dataset:
    """Read `source` and return a `Dataset` with canonical columns, every row validated.

    `recipe_field` is where the recipe sets this source (for example
    `data.train.pairs[0]`), so that errors about its path and columns name it.
    """
    conditions = _conditions(source)
    table = _read(source, data_dir, recipe_field)
    if source.labels is not None:
        try:
            check_label_mapping(source)
        except ValueError as error:
            raise ValueError(f"{describe(source)}: {error}") from None
    if source.nli_triplets is not None:
        if source.columns:
            raise ValueError(
                f"{describe(source)}: set either `columns` or `nli_triplets`, not both; nli_triplets "
                "always produces anchor, positive, negative and names its source columns itself"
            )
        rows = _nli_triplets(table, source.nli_triplets, conditions, recipe_field)
        return Dataset.from_list(rows) if rows else Dataset.from_dict({"anchor": [], "positive": [], "negative": []})

    try:
        canonical_kind(list(source.columns))
    except ValueError as error:
        raise ValueError(f"{describe(source)}: {error}") from None
    needed = [(column, f"columns.{name}") for name, column in source.columns.items()]
    _check_columns(table, needed + _filter_columns(conditions), recipe_field)
    kept = _filtered(table, conditions)
    filtered_out = len(table) - len(kept)
    mapped_labels, unmapped = None, Counter()
    if source.labels is not None:
        kept, mapped_labels, unmapped = _map_labels(table, kept, source.columns["label"], source.labels)
    columns: dict[str, list] = {name: [] for name in source.columns}
    for index in kept:
        for name, column in source.columns.items():
            if name != "label" or mapped_labels is None:
                columns[name].append(_validated(table, index, name, column))
    if mapped_labels is not None:
        columns["label"] = mapped_labels
    elif "label" in columns:
        _check_label_types(table, kept, source.columns["label"], columns["label"])
    if unmapped:
        counts = ", ".join(f"{value!r}: {count}" for value, count in unmapped.most_common())
        logger.info(
            "Read %d rows from %s (%d filtered out, %d skipped because `labels` does not map their label: %s)",
            len(kept), describe(source), filtered_out, sum(unmapped.values()), counts,
        )
    else:
        logger.info("Read %d rows from %s (%d filtered out)", len(kept), describe(source), filtered_out)
    return Dataset.from_dict(columns)


def check_label_mapping(source: Source) -> None:
    """Raise `ValueError` when the source's `labels` mapping cannot apply: no `label` column, or empty."""
    if source.nli_triplets is not None:
        raise ValueError("`labels` does not apply to nli_triplets, which set their own label values; remove it")
    if "label" not in source.columns:
        raise ValueError(
            "`labels` maps the values of the `label` column, but `columns` maps no `label`; "
            "add `label: SOURCE_COLUMN` to `columns`"
        )
    if not source.labels:
        raise ValueError("`labels` is empty; map at least one label value, for example {ENTAILMENT: 1}, or remove it")


def _map_labels(
    table: Table, kept: list[int], column: str, mapping: dict[str, int]
) -> tuple[list[int], list[int], Counter[str]]:
    """Return the kept rows whose label `mapping` maps, their new labels, and a count of the other labels."""
    lookup = {_label_key(key): value for key, value in mapping.items()}
    rows, labels = [], []
    unmapped: Counter[str] = Counter()
    for index in kept:
        key = _label_key(_validated(table, index, "label", column))
        if key in lookup:
            rows.append(index)
            labels.append(lookup[key])
        else:
            unmapped[key] += 1
    if kept and not rows:
        found = ", ".join(repr(value) for value, _ in unmapped.most_common(10))
        raise DataError(
            table.source,
            f"no row has a label that `labels` maps ({', '.join(map(repr, mapping))}); the values found are "
            f"{found}. Fix the keys of `labels`, which are compared as text, case-sensitively",
            column=column,
        )
    return rows, labels, unmapped


def _label_key(value: Any) -> str:
    """Return a label as text, with integral numbers written without a fraction (1.0 and "1" both become "1")."""
    number = _as_number(value)
    if number is not None and number.is_integer():
        return str(int(number))
    return str(value).strip()


def _conditions(source: Source) -> list[Condition]:
    texts = [source.filter] if isinstance(source.filter, str) else source.filter
    try:
        return [Condition.parse(text) for text in texts]
    except ValueError as error:
        raise ValueError(f"{describe(source)}: {error}") from None


def _read(source: Source, data_dir: Path | None, recipe_field: str | None) -> Table:
    if (source.path is None) == (source.hub is None):
        raise ValueError("a data source needs exactly one of `path` (a file in the data directory) or `hub` (a dataset id)")
    if source.hub is not None:
        return read_hub_dataset(source.hub, source.split, source.subset)

    path = Path(source.path).expanduser()
    if not path.is_absolute():
        if data_dir is None:
            raise FileNotFoundError(
                f"Data file {source.path!r} is relative, but no data directory is set. "
                "Pass --data-dir DIR or set SIMTEXT_DATA_DIR."
            )
        path = data_dir / path
    if not path.is_file():
        setting = f"{recipe_field}.path ({source.path!r})" if recipe_field else f"the path {source.path!r}"
        raise FileNotFoundError(
            f"Data file {path} not found. Check {setting} in the recipe and the data "
            f"directory ({data_dir}), set with --data-dir or SIMTEXT_DATA_DIR."
        )
    return read_table(path, format=source.format, quoting=source.quoting)


def _filter_columns(conditions: list[Condition]) -> list[tuple[str, str]]:
    return [(condition.column, "filter") for condition in conditions]


def _check_columns(table: Table, needed: list[tuple[str, str]], recipe_field: str | None) -> None:
    """Raise `DataError` unless every row has each needed column. `needed` pairs a column with its recipe key."""
    for column, key in needed:
        if column in table.columns:
            continue
        line = None if table.line_label == "row" else 1
        setting = f"{recipe_field}.{key}" if recipe_field else "the column mapping or filter"
        close = difflib.get_close_matches(column, table.columns, n=1)
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        hint = ""
        if len(table.columns) == 1 and any(separator in table.columns[0] for separator in "\t,;"):
            hint = ". The header has a single column, so the file may use another delimiter than its suffix implies; set `format`"
        raise DataError(
            table.source,
            f"column {column!r} not found; the columns are {', '.join(map(repr, table.columns))}.{suggestion} "
            f"Fix {setting} in the recipe{hint}",
            line=line,
        )
    for index, row in enumerate(table.rows):
        for column, _ in needed:
            if column not in row:
                raise table.error(index, "this row has no such field; every row needs it", column)


def _filtered(table: Table, conditions: list[Condition]) -> list[int]:
    return [index for index in range(len(table)) if all(condition.holds(table, index) for condition in conditions)]


def _validated(table: Table, index: int, name: str, column: str) -> Any:
    value = table.rows[index][column]
    if name in TEXT_COLUMNS or _NEGATIVE.match(name):
        if not isinstance(value, str) or not value.strip():
            raise table.error(index, f"expected a non-empty text for {name!r}, found {value!r}", column)
        return value
    if name == "score":
        number = _as_number(value)
        if number is None or number != number:
            raise table.error(index, f"expected a numeric score, found {value!r}", column)
        return number
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise table.error(index, f"expected a label, found an empty field", column)
        number = _as_number(value)
        return int(number) if number is not None and number.is_integer() else value
    return value


def _check_label_types(table: Table, kept: list[int], column: str, labels: list) -> None:
    """Raise on the first label whose type differs from the first label's, because an Arrow column has a single type."""
    for index, label in zip(kept, labels):
        if type(label) is not type(labels[0]):
            first = f"{table.line_label} {table.lines[kept[0]]}"
            raise table.error(
                index,
                f"expected a label of the same type as {labels[0]!r} ({first}), found {label!r}; "
                "use only integer labels or only text labels in one column",
                column,
            )


def _nli_triplets(
    table: Table, spec: NliTriplets, conditions: list[Condition], recipe_field: str | None
) -> list[dict[str, str]]:
    """Pair each premise with each entailed hypothesis and its first contradicted hypothesis."""
    needed = [(spec.premise, "nli_triplets.premise"), (spec.hypothesis, "nli_triplets.hypothesis"), (spec.label, "nli_triplets.label")]
    _check_columns(table, needed + _filter_columns(conditions), recipe_field)
    entailed: dict[str, list[str]] = {}
    contradicted: dict[str, str] = {}
    no_gold = 0
    other_labels: Counter[str] = Counter()
    for index in _filtered(table, conditions):
        premise = _validated(table, index, "anchor", spec.premise)
        hypothesis = _validated(table, index, "positive", spec.hypothesis)
        label = str(table.rows[index][spec.label]).strip()
        if label == spec.entailment:
            entailed.setdefault(premise, []).append(hypothesis)
        elif label == spec.contradiction:
            contradicted.setdefault(premise, hypothesis)
        elif label in spec.no_gold:
            no_gold += 1
        else:
            other_labels[label] += 1

    rows = [
        {"anchor": premise, "positive": hypothesis, "negative": contradicted[premise]}
        for premise, hypotheses in entailed.items()
        if premise in contradicted
        for hypothesis in hypotheses
    ]
    unmatched = sum(len(hypotheses) for premise, hypotheses in entailed.items() if premise not in contradicted)
    logger.info(
        "Built %d NLI triplets from %s (%d entailments without a contradiction and %d rows without a gold label skipped)",
        len(rows), table.source, unmatched, no_gold,
    )
    if other_labels:
        counts = ", ".join(f"{label!r}: {count}" for label, count in other_labels.most_common())
        logger.info("Unused NLI labels in %s (neither entailment nor contradiction): %s", table.source, counts)
    return rows
