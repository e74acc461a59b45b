"""Evaluation task definitions, the built-in tasks, and where their files are found.

Built-in task paths are relative to a data directory, given as `--data-dir` or the
`SIMTEXT_DATA_DIR` environment variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from simtext.evaluation.beir import RetrievalData, read_beir
from simtext.evaluation.sts import STSPairs, read_sts_pairs

DATA_DIR_VARIABLE = "SIMTEXT_DATA_DIR"


@dataclass(frozen=True)
class STSTask:
    """A sentence-similarity task: one file with two sentence columns and a gold score column."""

    name: str
    path: str
    sentence1_column: str = "sentence1"
    sentence2_column: str = "sentence2"
    score_column: str = "score"
    kind = "sts"

    def read(self, data_dir: Path | None) -> STSPairs:
        path = task_path(self.name, self.path, data_dir)
        return read_sts_pairs(path, self.sentence1_column, self.sentence2_column, self.score_column)


@dataclass(frozen=True)
class RetrievalTask:
    """A retrieval task: a folder in the BEIR layout and the qrels split to evaluate."""

    name: str
    folder: str
    split: str = "test"
    kind = "retrieval"

    def read(self, data_dir: Path | None) -> RetrievalData:
        folder = task_path(self.name, self.folder, data_dir)
        for relative in ("corpus.jsonl", "queries.jsonl", f"qrels/{self.split}.tsv"):
            task_path(self.name, f"{self.folder}/{relative}", data_dir)
        return read_beir(folder, self.split)


Task = STSTask | RetrievalTask

BUILTIN_TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        STSTask("stsb-test", "stsb/test.csv"),
        STSTask("stsb-dev", "stsb/dev.csv"),
        STSTask("sick-trial", "sick/trial.tsv", "sentence_A", "sentence_B", "relatedness_score"),
        RetrievalTask("scifact-test", "scifact", "test"),
    )
}


def metric_names(task: Task) -> tuple[str, ...]:
    """Return the metric names that evaluating `task` reports."""
    from simtext.evaluation.retrieval import MAP_CUTOFF, MRR_CUTOFF, NDCG_CUTOFF, RECALL_CUTOFFS

    if task.kind == "retrieval":
        recalls = tuple(f"recall@{k}" for k in RECALL_CUTOFFS)
        return (f"ndcg@{NDCG_CUTOFF}", f"mrr@{MRR_CUTOFF}", *recalls, f"map@{MAP_CUTOFF}")
    return ("spearman", "pearson")


def get_task(name: str) -> Task:
    """Return the built-in task called `name`, raising `ValueError` with the known names otherwise."""
    try:
        return BUILTIN_TASKS[name]
    except KeyError:
        raise ValueError(f"Unknown evaluation task {name!r}. Known tasks: {', '.join(BUILTIN_TASKS)}.") from None


def resolve_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """Return `data_dir`, else the folder that `SIMTEXT_DATA_DIR` names, else None."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_VARIABLE) or None
    if data_dir is None:
        return None
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"Evaluation data directory {data_dir} not found. Set --data-dir or {DATA_DIR_VARIABLE} to the folder "
            "that contains the task files."
        )
    return data_dir


def task_path(task_name: str, relative: str, data_dir: Path | None) -> Path:
    """Return the path of `relative` under `data_dir`, raising if no directory is set or the path does not exist."""
    path = Path(relative)
    if not path.is_absolute():
        if data_dir is None:
            raise ValueError(
                f"Task {task_name!r} reads {relative}, but no data directory is set. Set --data-dir or "
                f"{DATA_DIR_VARIABLE} to the folder that contains {relative}."
            )
        path = data_dir / path
    if not path.exists():
        raise FileNotFoundError(
            f"Task {task_name!r} needs {path}, which does not exist. Set --data-dir or {DATA_DIR_VARIABLE} "
            f"to the folder that contains {relative}."
        )
    return path
