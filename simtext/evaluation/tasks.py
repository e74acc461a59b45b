"""Evaluation task definitions (STS, retrieval, pair classification, reranking), the built-in tasks, and where their files are found.

Built-in task paths are relative to a data directory, given as `--data-dir` or the
`SIMTEXT_DATA_DIR` environment variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from typing import Any

from simtext.evaluation.beir import RetrievalData, read_beir
from simtext.evaluation.encoding import EmbeddingCache
from simtext.evaluation.pairs import PAIR_METRICS, LabelledPairs, read_labelled_pairs, register_pairs, score_pairs
from simtext.evaluation.reranking import MRR_CUTOFF as RERANKING_MRR_CUTOFF
from simtext.evaluation.reranking import RerankingData, read_reranking, register_reranking, score_reranking
from simtext.evaluation.retrieval import MAP_CUTOFF, MRR_CUTOFF, NDCG_CUTOFF, RECALL_CUTOFFS, register_retrieval, score_retrieval
from simtext.evaluation.sts import STSPairs, read_sts_pairs, register_sts, score_sts, sts_metric_names

DATA_DIR_VARIABLE = "SIMTEXT_DATA_DIR"


@dataclass(frozen=True)
class STSTask:
    """A sentence-similarity task: one file with two sentence columns and a gold score column (any range).

    `similarity_functions` lists `cosine`, `dot` and `euclidean`; cosine gives the metrics
    `spearman` and `pearson`, the others `spearman_dot`, `pearson_dot` and so on.
    """

    name: str
    path: str
    sentence1_column: str = "sentence1"
    sentence2_column: str = "sentence2"
    score_column: str = "score"
    similarity_functions: tuple[str, ...] = ("cosine",)
    quoting: bool | None = None
    kind = "sts"

    def read(self, data_dir: Path | None) -> STSPairs:
        path = task_path(self.name, self.path, data_dir)
        return read_sts_pairs(path, self.sentence1_column, self.sentence2_column, self.score_column, self.quoting)

    def metric_names(self) -> tuple[str, ...]:
        return sts_metric_names(self.similarity_functions)

    def register(self, data: STSPairs, cache: EmbeddingCache) -> None:
        register_sts(data, cache)

    def score(self, data: STSPairs, cache: EmbeddingCache) -> tuple[dict[str, float], dict]:
        return score_sts(data, cache, self.similarity_functions)

    def describe(self, data: STSPairs) -> dict[str, Any]:
        return {"pairs": len(data)}


@dataclass(frozen=True)
class RetrievalTask:
    """A retrieval task: a folder in the BEIR layout, the qrels split to evaluate, and the search (`exact` or `faiss`)."""

    name: str
    folder: str
    split: str = "test"
    search: str = "exact"
    kind = "retrieval"

    def read(self, data_dir: Path | None) -> RetrievalData:
        folder = task_path(self.name, self.folder, data_dir)
        for relative in ("corpus.jsonl", "queries.jsonl", f"qrels/{self.split}.tsv"):
            task_path(self.name, f"{self.folder}/{relative}", data_dir)
        return read_beir(folder, self.split)

    def metric_names(self) -> tuple[str, ...]:
        recalls = tuple(f"recall@{k}" for k in RECALL_CUTOFFS)
        return (f"ndcg@{NDCG_CUTOFF}", f"mrr@{MRR_CUTOFF}", *recalls, f"map@{MAP_CUTOFF}")

    def register(self, data: RetrievalData, cache: EmbeddingCache) -> None:
        register_retrieval(data, cache)

    def score(self, data: RetrievalData, cache: EmbeddingCache) -> tuple[dict[str, float], dict]:
        return score_retrieval(data, cache, self.search)

    def describe(self, data: RetrievalData) -> dict[str, Any]:
        return {"queries": len(data.queries), "documents": len(data.documents)}


@dataclass(frozen=True)
class PairClassificationTask:
    """A pair-classification task: one file with two sentence columns and a 0/1 label column (1: paraphrase)."""

    name: str
    path: str
    sentence1_column: str = "sentence1"
    sentence2_column: str = "sentence2"
    label_column: str = "label"
    quoting: bool | None = None
    kind = "pair-classification"

    def read(self, data_dir: Path | None) -> LabelledPairs:
        path = task_path(self.name, self.path, data_dir)
        return read_labelled_pairs(path, self.sentence1_column, self.sentence2_column, self.label_column, self.quoting)

    def metric_names(self) -> tuple[str, ...]:
        return PAIR_METRICS

    def register(self, data: LabelledPairs, cache: EmbeddingCache) -> None:
        register_pairs(data, cache)

    def score(self, data: LabelledPairs, cache: EmbeddingCache) -> tuple[dict[str, float], dict]:
        return score_pairs(data, cache)

    def describe(self, data: LabelledPairs) -> dict[str, Any]:
        return {"pairs": len(data)}


@dataclass(frozen=True)
class RerankingTask:
    """A reranking task: one (query, candidate, label) row per line; each query's rows are its candidates."""

    name: str
    path: str
    query_column: str = "query"
    document_column: str = "document"
    label_column: str = "label"
    quoting: bool | None = None
    kind = "reranking"

    def read(self, data_dir: Path | None) -> RerankingData:
        path = task_path(self.name, self.path, data_dir)
        return read_reranking(path, self.query_column, self.document_column, self.label_column, self.quoting)

    def metric_names(self) -> tuple[str, ...]:
        return ("map", f"mrr@{RERANKING_MRR_CUTOFF}")

    def register(self, data: RerankingData, cache: EmbeddingCache) -> None:
        register_reranking(data, cache)

    def score(self, data: RerankingData, cache: EmbeddingCache) -> tuple[dict[str, float], dict]:
        return score_reranking(data, cache)

    def describe(self, data: RerankingData) -> dict[str, Any]:
        return {"queries": len(data), "candidates": data.candidate_count}


Task = STSTask | RetrievalTask | PairClassificationTask | RerankingTask
TASK_TYPES: dict[str, type] = {
    task_type.kind: task_type for task_type in (STSTask, RetrievalTask, PairClassificationTask, RerankingTask)
}

BUILTIN_TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        STSTask("stsb-test", "stsb/test.csv"),
        STSTask("stsb-dev", "stsb/dev.csv"),
        STSTask("sick-trial", "sick/trial.tsv", "sentence_A", "sentence_B", "relatedness_score"),
        RetrievalTask("scifact-test", "scifact", "test"),
        PairClassificationTask("msrp-test", "msrp/test.tsv", "#1 String", "#2 String", "Quality"),
        PairClassificationTask("paws-dev", "paws/dev.tsv"),
        RerankingTask("trecqa-test", "trecqa/test.csv", "qtext", "atext", "label"),
        RerankingTask("trecqa-dev", "trecqa/dev.csv", "qtext", "atext", "label"),
    )
}


def metric_names(task: Task) -> tuple[str, ...]:
    """Return the metric names that evaluating `task` reports."""
    return task.metric_names()


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
