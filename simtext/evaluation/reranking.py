"""Reranking (answer selection): order each query's own candidate texts by cosine similarity and score the order.

The figures are those of sentence-transformers' `RerankingEvaluator` on a model whose
similarity function is cosine: the mean over queries of average precision
(scikit-learn) and of the reciprocal rank of the first relevant candidate within the
top 10. Queries without a relevant or without an irrelevant candidate are left out,
as that evaluator leaves them out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sklearn.metrics import average_precision_score

from simtext.data.readers import DataError, read_table
from simtext.evaluation.encoding import EmbeddingCache
from simtext.evaluation.fields import number_value, require_columns, text_value

logger = logging.getLogger(__name__)

MRR_CUTOFF = 10


@dataclass
class RerankingQuery:
    """One query with its relevant (`positives`) and irrelevant (`negatives`) candidates, in file order."""

    query: str
    positives: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)


@dataclass
class RerankingData:
    """The queries of a reranking file that have at least one relevant and one irrelevant candidate."""

    source: str
    queries: list[RerankingQuery]
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def candidate_count(self) -> int:
        return sum(len(item.positives) + len(item.negatives) for item in self.queries)


def read_reranking(
    path: str | Path,
    query_column: str = "query",
    document_column: str = "document",
    label_column: str = "label",
    quoting: bool | None = None,
) -> RerankingData:
    """Read one (query, candidate, label) row per line and group the rows by query text.

    A label greater than 0 marks a relevant candidate. Queries whose candidates are all
    relevant or all irrelevant are counted in `skipped` and logged. Raises `DataError`
    naming file, line and column for a bad row, and when no query is left.
    """
    table = read_table(path, quoting=quoting)
    require_columns(table, [query_column, document_column, label_column])
    grouped: dict[str, RerankingQuery] = {}
    for index in range(len(table)):
        query = text_value(table, index, query_column)
        document = text_value(table, index, document_column)
        item = grouped.setdefault(query, RerankingQuery(query))
        if number_value(table, index, label_column) > 0:
            item.positives.append(document)
        else:
            item.negatives.append(document)

    queries = [item for item in grouped.values() if item.positives and item.negatives]
    skipped = len(grouped) - len(queries)
    if skipped:
        logger.info("%s: %d of %d queries have only relevant or only irrelevant candidates and are left out.", table.source, skipped, len(grouped))
    if not queries:
        raise DataError(table.source, "no query has both a relevant (label > 0) and an irrelevant candidate", column=label_column)
    return RerankingData(table.source, queries, skipped)


def reranking_metrics(scores: list[np.ndarray], relevance: list[list[int]]) -> dict[str, float]:
    """Return MAP and MRR@10 of per-query candidate `scores` against 0/1 `relevance`, averaged over queries."""
    average_precisions, reciprocal_ranks = [], []
    for query_scores, query_relevance in zip(scores, relevance):
        order = np.argsort(-np.asarray(query_scores), kind="stable")
        first_hit = next((rank for rank, index in enumerate(order[:MRR_CUTOFF], start=1) if query_relevance[index]), None)
        reciprocal_ranks.append(1.0 / first_hit if first_hit else 0.0)
        average_precisions.append(average_precision_score(query_relevance, query_scores))
    return {"map": float(np.mean(average_precisions)), f"mrr@{MRR_CUTOFF}": float(np.mean(reciprocal_ranks))}


def register_reranking(data: RerankingData, cache: EmbeddingCache) -> None:
    """Register the queries for `model.encode_query` and the candidates for `model.encode_document`."""
    cache.add("query", [item.query for item in data.queries])
    cache.add("document", [text for item in data.queries for text in item.positives + item.negatives])


def score_reranking(data: RerankingData, cache: EmbeddingCache) -> tuple[dict[str, float], dict]:
    """Score each query's candidates by cosine similarity and return MAP and MRR@10."""
    queries = F.normalize(cache.get("query", [item.query for item in data.queries]).float(), dim=-1)  # (queries, dim)
    scores, relevance = [], []
    for query_embedding, item in zip(queries, data.queries):
        candidates = cache.get("document", item.positives + item.negatives)  # (candidates, dim)
        similarities = F.normalize(candidates.float(), dim=-1) @ query_embedding  # (candidates,)
        scores.append(similarities.cpu().numpy())
        relevance.append([1] * len(item.positives) + [0] * len(item.negatives))
    return reranking_metrics(scores, relevance), {}


def evaluate_reranking(
    model: SentenceTransformer, data: RerankingData, batch_size: int = 64, show_progress_bar: bool | None = None
) -> dict[str, float]:
    """Encode queries and candidates, rank each query's candidates by cosine similarity, and return MAP and MRR@10."""
    cache = EmbeddingCache(model, batch_size, show_progress_bar)
    register_reranking(data, cache)
    cache.encode_pending()
    return score_reranking(data, cache)[0]

