"""Read an evaluation suite: a YAML file that lists built-in task names and task definitions.

```yaml
description: Paraphrase detection
tasks:
  - msrp-test                      # a built-in task
  - name: my-pairs                 # a task on your own file
    kind: pair-classification
    path: mine/pairs.csv           # relative to the data directory, or absolute
    columns: {sentence1: left, sentence2: right, label: is_paraphrase}
```

A mapping may reuse a built-in task's name; it then replaces that task in this suite.
Every error names the file, the field's path (`tasks[1].columns`) and the fix.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from simtext.evaluation.sts import SIMILARITY_FUNCTIONS
from simtext.evaluation.tasks import (
    BUILTIN_TASKS,
    PairClassificationTask,
    RerankingTask,
    RetrievalTask,
    STSTask,
    Task,
)

# Canonical column name: field of the task dataclass, per kind.
_COLUMNS = {
    "sts": {"sentence1": "sentence1_column", "sentence2": "sentence2_column", "score": "score_column"},
    "pair-classification": {"sentence1": "sentence1_column", "sentence2": "sentence2_column", "label": "label_column"},
    "reranking": {"query": "query_column", "document": "document_column", "label": "label_column"},
    "retrieval": {},
}
_FIELDS = {
    "sts": {"name", "kind", "path", "columns", "similarity", "quoting"},
    "pair-classification": {"name", "kind", "path", "columns", "quoting"},
    "reranking": {"name", "kind", "path", "columns", "quoting"},
    "retrieval": {"name", "kind", "path", "split", "search"},
}
_SEARCHES = ("exact", "faiss")


class SuiteError(ValueError):
    """An invalid field of a suite file, named by file and field path."""

    def __init__(self, path: Path, field: str, message: str):
        super().__init__(f"{path}: {field}: {message}")


def load_suite(path: str | Path) -> list[Task]:
    """Read the suite at `path` and return its tasks in order; raise `SuiteError` naming the field for any mistake."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Suite file {path} not found. Pass a YAML file such as eval/suites/sts.yaml.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SuiteError(path, "file", f"invalid YAML ({error}); fix the syntax") from None
    if not isinstance(raw, dict):
        raise SuiteError(path, "file", "expected a mapping with a `tasks` list, for example `tasks: [stsb-test]`")
    unknown = sorted(set(raw) - {"description", "tasks"})
    if unknown:
        raise SuiteError(path, unknown[0], "unknown field; a suite has only `description` and `tasks`")
    entries = raw.get("tasks")
    if not isinstance(entries, list) or not entries:
        raise SuiteError(path, "tasks", "expected a non-empty list of built-in task names or task mappings")

    tasks = [_parse_task(path, f"tasks[{index}]", entry) for index, entry in enumerate(entries)]
    names = [task.name for task in tasks]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise SuiteError(path, f"tasks[{index}].name", f"task name {name!r} is used twice; give each task its own name")
    return tasks


def _parse_task(path: Path, field: str, entry: Any) -> Task:
    if isinstance(entry, str):
        if entry not in BUILTIN_TASKS:
            raise SuiteError(path, field, f"unknown built-in task {entry!r}{_suggest(entry, BUILTIN_TASKS)}; built-in tasks: {', '.join(BUILTIN_TASKS)}")
        return BUILTIN_TASKS[entry]
    if not isinstance(entry, dict):
        raise SuiteError(path, field, f"expected a built-in task name or a mapping, found {entry!r}")

    kind = entry.get("kind")
    if kind is None:
        raise SuiteError(path, f"{field}.kind", f"missing; set it to one of {', '.join(_FIELDS)}, or list a built-in task by name")
    if kind not in _FIELDS:
        raise SuiteError(path, f"{field}.kind", f"expected one of {', '.join(_FIELDS)}, found {kind!r}")
    unknown = sorted(set(entry) - _FIELDS[kind])
    if unknown:
        raise SuiteError(path, f"{field}.{unknown[0]}", f"unknown field for kind {kind}; allowed: {', '.join(sorted(_FIELDS[kind]))}")
    name = _string(path, f"{field}.name", entry.get("name"))
    options: dict[str, Any] = {"name": name}
    file_path = _string(path, f"{field}.path", entry.get("path"))

    if "quoting" in entry:
        if not isinstance(entry["quoting"], bool):
            raise SuiteError(path, f"{field}.quoting", f"expected true or false, found {entry['quoting']!r}")
        options["quoting"] = entry["quoting"]
    options.update(_columns(path, f"{field}.columns", kind, entry.get("columns", {})))

    if kind == "sts":
        options["similarity_functions"] = _similarity(path, f"{field}.similarity", entry.get("similarity", ["cosine"]))
        return STSTask(path=file_path, **options)
    if kind == "pair-classification":
        return PairClassificationTask(path=file_path, **options)
    if kind == "reranking":
        return RerankingTask(path=file_path, **options)

    search = entry.get("search", "exact")
    if search not in _SEARCHES:
        raise SuiteError(path, f"{field}.search", f"expected exact or faiss, found {search!r}")
    split = _string(path, f"{field}.split", entry.get("split", "test"))
    return RetrievalTask(name, file_path, split, search)


def _string(path: Path, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SuiteError(path, field, f"expected a non-empty string, found {value!r}")
    return value


def _columns(path: Path, field: str, kind: str, columns: Any) -> dict[str, str]:
    allowed = _COLUMNS[kind]
    if not isinstance(columns, dict):
        raise SuiteError(path, field, f"expected a mapping of canonical column to file column, such as {{{', '.join(f'{key}: ...' for key in allowed)}}}")
    options = {}
    for canonical, column in columns.items():
        if canonical not in allowed:
            raise SuiteError(path, f"{field}.{canonical}", f"unknown column for kind {kind}; use {', '.join(allowed)}")
        options[allowed[canonical]] = _string(path, f"{field}.{canonical}", column)
    return options


def _similarity(path: Path, field: str, value: Any) -> tuple[str, ...]:
    functions = [value] if isinstance(value, str) else value
    if not isinstance(functions, list) or not functions:
        raise SuiteError(path, field, f"expected a list drawn from {', '.join(SIMILARITY_FUNCTIONS)}, found {value!r}")
    for function in functions:
        if function not in SIMILARITY_FUNCTIONS:
            raise SuiteError(path, field, f"unknown similarity function {function!r}; use {', '.join(SIMILARITY_FUNCTIONS)}")
    if "cosine" not in functions:
        functions = ["cosine", *functions]
    return tuple(dict.fromkeys(functions))


def _suggest(value: str, choices) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
