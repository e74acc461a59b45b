"""Retrieval evaluation: rank a corpus for each query by cosine similarity and score the ranking.

The metrics are written here rather than taken from sentence-transformers'
`InformationRetrievalEvaluator`, because they must run on the chunked top-k of
`exact_search`. They follow that evaluator's definitions (sentence-transformers 6.3)
so figures agree: binary relevance, Recall@k over all relevant documents, and
AP@k divided by min(k, number of relevant documents).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from sentence_transformers import SentenceTransformer

from simtext.evaluation.beir import RetrievalData
from simtext.evaluation.encoding import EmbeddingCache
from simtext.evaluation.faiss_search import faiss_search
from simtext.evaluation.search import DEFAULT_CHUNK_SIZE, exact_search

logger = logging.getLogger(__name__)

NDCG_CUTOFF = 10
MRR_CUTOFF = 10
RECALL_CUTOFFS = (1, 10, 100)
MAP_CUTOFF = 100
# Ranking depth that every metric above needs.
SEARCH_DEPTH = max(NDCG_CUTOFF, MRR_CUTOFF, MAP_CUTOFF, *RECALL_CUTOFFS)


def retrieval_metrics(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> dict[str, float]:
    """Return nDCG@10, MRR@10, Recall@1/10/100 and MAP@100, averaged over queries.

    `rankings[i]` lists document ids best first (at least `SEARCH_DEPTH` when the corpus
    has that many), and `relevant[i]` is the non-empty set of relevant ids of query i.
    """
    if len(rankings) != len(relevant):
        raise ValueError(f"Got {len(rankings)} rankings for {len(relevant)} relevance sets; pass one of each per query.")
    if not rankings:
        raise ValueError("No queries to score; pass at least one ranking.")

    per_query = [_query_metrics(ranking, relevant_ids) for ranking, relevant_ids in zip(rankings, relevant)]
    return {name: float(np.mean([values[name] for values in per_query])) for name in per_query[0]}


def _query_metrics(ranking: Sequence[str], relevant_ids: set[str]) -> dict[str, float]:
    if not relevant_ids:
        raise ValueError("A query has no relevant documents; leave such queries out, as they have no defined recall.")
    hits = [doc_id in relevant_ids for doc_id in ranking]

    metrics = {f"ndcg@{NDCG_CUTOFF}": _ndcg(hits[:NDCG_CUTOFF], len(relevant_ids), NDCG_CUTOFF)}
    first_hit = next((rank for rank, hit in enumerate(hits[:MRR_CUTOFF], start=1) if hit), None)
    metrics[f"mrr@{MRR_CUTOFF}"] = 1.0 / first_hit if first_hit else 0.0
    for k in RECALL_CUTOFFS:
        metrics[f"recall@{k}"] = sum(hits[:k]) / len(relevant_ids)
    metrics[f"map@{MAP_CUTOFF}"] = _average_precision(hits[:MAP_CUTOFF], len(relevant_ids), MAP_CUTOFF)
    return metrics


def _ndcg(hits: list[bool], relevant_count: int, k: int) -> float:
    dcg = sum(1.0 / math.log2(rank + 1) for rank, hit in enumerate(hits, start=1) if hit)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(relevant_count, k) + 1))
    return dcg / ideal


def _average_precision(hits: list[bool], relevant_count: int, k: int) -> float:
    found, precision_sum = 0, 0.0
    for rank, hit in enumerate(hits, start=1):
        if hit:
            found += 1
            precision_sum += found / rank
    return precision_sum / min(k, relevant_count)


def register_retrieval(data: RetrievalData, cache: EmbeddingCache) -> None:
    """Register the queries for `model.encode_query` and the documents for `model.encode_document`."""
    cache.add("query", list(data.queries.values()))
    cache.add("document", list(data.documents.values()))


def score_retrieval(
    data: RetrievalData, cache: EmbeddingCache, search: str = "exact", chunk_size: int = DEFAULT_CHUNK_SIZE
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Rank the documents for each query by cosine similarity and score the rankings.

    `search` is `exact` (chunked exact search) or `faiss` (a FAISS flat inner-product
    index). Returns the metrics and the curve for plots: Recall@k for k = 1 to `SEARCH_DEPTH`.
    Equal scores rank the smaller document id (as a string) first, as in
    `InformationRetrievalEvaluator`. Like that evaluator, and unlike BEIR's pytrec_eval
    scoring, a document whose id equals the query id is not skipped.
    """
    query_ids = list(data.queries)
    query_embeddings = cache.get("query", list(data.queries.values()))  # (queries, dim)

    # Documents are put in id order so that index order breaks ties.
    document_ids = sorted(data.documents)
    document_embeddings = cache.get("document", [data.documents[doc_id] for doc_id in document_ids])  # (documents, dim)

    if search == "exact":
        _, indices = exact_search(query_embeddings, document_embeddings, SEARCH_DEPTH, chunk_size)  # (queries, depth)
    elif search == "faiss":
        _, indices = faiss_search(query_embeddings, document_embeddings, SEARCH_DEPTH, chunk_size)
    else:
        raise ValueError(f"Unknown search {search!r}; use exact or faiss.")
    rankings = [[document_ids[index] for index in row] for row in indices.tolist()]
    relevant = [data.relevant[query_id] for query_id in query_ids]
    return retrieval_metrics(rankings, relevant), {"recall_at_k": recall_curve(rankings, relevant)}


def recall_curve(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]], depth: int = SEARCH_DEPTH) -> list[float]:
    """Return mean Recall@k for k = 1 to `depth` (element k - 1 is Recall@k)."""
    curve = np.zeros(depth)
    for ranking, relevant_ids in zip(rankings, relevant):
        hits = np.array([doc_id in relevant_ids for doc_id in ranking[:depth]], dtype=np.float64)
        found = np.cumsum(hits)
        if len(found) < depth:
            found = np.concatenate([found, np.full(depth - len(found), found[-1] if len(found) else 0.0)])
        curve += found / len(relevant_ids)
    return [round(float(value), 6) for value in curve / len(rankings)]


def evaluate_retrieval(
    model: SentenceTransformer,
    data: RetrievalData,
    batch_size: int = 64,
    show_progress_bar: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    search: str = "exact",
) -> dict[str, float]:
    """Encode queries with `model.encode_query` and documents with `model.encode_document`, search, and score."""
    cache = EmbeddingCache(model, batch_size, show_progress_bar)
    register_retrieval(data, cache)
    cache.encode_pending()
    return score_retrieval(data, cache, search, chunk_size)[0]
