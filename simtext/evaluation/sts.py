"""Semantic textual similarity (STS): correlate the cosine similarity of sentence pairs with gold scores.

The figures are those of sentence-transformers' `EmbeddingSimilarityEvaluator` with
cosine similarity (and, on request, dot product and negative Euclidean distance):
Spearman and Pearson correlation from `scipy.stats`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr, spearmanr
from sentence_transformers import SentenceTransformer

from simtext.data.readers import DataError, read_table
from simtext.evaluation.encoding import EmbeddingCache
from simtext.evaluation.fields import number_value, require_columns, text_value

logger = logging.getLogger(__name__)


@dataclass
class STSPairs:
    """Sentence pairs with a gold similarity score each, read from `source`."""

    source: str
    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]

    def __len__(self) -> int:
        return len(self.scores)


def read_sts_pairs(
    path: str | Path,
    sentence1_column: str = "sentence1",
    sentence2_column: str = "sentence2",
    score_column: str = "score",
    quoting: bool | None = None,
) -> STSPairs:
    """Read sentence pairs and gold scores from a CSV, TSV, JSON Lines or Parquet file.

    Raises `DataError` naming file, line and column for a missing column, an empty
    sentence or a score that is not a number, and when fewer than two pairs or only
    one distinct score make the correlations undefined.
    """
    table = read_table(path, quoting=quoting)
    require_columns(table, [sentence1_column, sentence2_column, score_column])
    pairs = STSPairs(table.source, [], [], [])
    for index in range(len(table)):
        pairs.sentences1.append(text_value(table, index, sentence1_column))
        pairs.sentences2.append(text_value(table, index, sentence2_column))
        pairs.scores.append(number_value(table, index, score_column))

    if len(pairs) < 2:
        raise DataError(table.source, f"found {len(pairs)} sentence pairs, but a correlation needs at least 2")
    if len(set(pairs.scores)) < 2:
        raise DataError(table.source, f"every gold score is {pairs.scores[0]}, so the correlation is undefined", column=score_column)
    return pairs


SIMILARITY_FUNCTIONS = ("cosine", "dot", "euclidean")


def sts_metric_names(similarity_functions: Sequence[str] = ("cosine",)) -> tuple[str, ...]:
    """Return the metric names of an STS task: `spearman` and `pearson` for cosine, `spearman_dot` and so on for the others."""
    names: list[str] = []
    for function in similarity_functions:
        suffix = "" if function == "cosine" else f"_{function}"
        names += [f"spearman{suffix}", f"pearson{suffix}"]
    return tuple(names)


def sts_metrics(similarities: Sequence[float], gold_scores: Sequence[float]) -> dict[str, float]:
    """Return the Spearman and Pearson correlation of `similarities` with `gold_scores`."""
    if len(similarities) != len(gold_scores):
        raise ValueError(f"Got {len(similarities)} similarities for {len(gold_scores)} gold scores; pass one per pair.")
    similarities = np.asarray(similarities, dtype=np.float64)
    gold_scores = np.asarray(gold_scores, dtype=np.float64)
    return {
        "spearman": float(spearmanr(gold_scores, similarities).statistic),
        "pearson": float(pearsonr(gold_scores, similarities).statistic),
    }


def pair_similarities(first: torch.Tensor, second: torch.Tensor, function: str = "cosine") -> torch.Tensor:
    """Return the (pairs,) similarity of row i of `first` and `second`: cosine, dot product or negative Euclidean distance.

    These are sentence-transformers' `pairwise_cos_sim`, `pairwise_dot_score` and
    `pairwise_euclidean_sim`, computed in float32.
    """
    first, second = first.float(), second.float()  # (pairs, dim) each
    if function == "cosine":
        return (F.normalize(first, dim=-1) * F.normalize(second, dim=-1)).sum(dim=-1)
    if function == "dot":
        return (first * second).sum(dim=-1)
    if function == "euclidean":
        return -torch.linalg.vector_norm(first - second, dim=-1)
    raise ValueError(f"Unknown similarity function {function!r}; use one of {', '.join(SIMILARITY_FUNCTIONS)}.")


def register_sts(pairs: STSPairs, cache: EmbeddingCache) -> None:
    """Register both sides of `pairs` for encoding with `model.encode`."""
    cache.add("text", pairs.sentences1 + pairs.sentences2)


def score_sts(
    pairs: STSPairs, cache: EmbeddingCache, similarity_functions: Sequence[str] = ("cosine",)
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Correlate each similarity function of the pair embeddings with the gold scores.

    Returns the metrics (see `sts_metric_names`) and the curve for plots: the gold
    scores and the cosine similarity of every pair.
    """
    first = cache.get("text", pairs.sentences1)  # (pairs, dim)
    second = cache.get("text", pairs.sentences2)  # (pairs, dim)
    metrics: dict[str, float] = {}
    curve: dict[str, list[float]] = {"gold": list(pairs.scores)}
    for function in similarity_functions:
        similarities = pair_similarities(first, second, function).cpu().numpy()
        suffix = "" if function == "cosine" else f"_{function}"
        for name, value in sts_metrics(similarities, pairs.scores).items():
            metrics[name + suffix] = value
        if function == "cosine":
            curve["cosine"] = [round(float(value), 6) for value in similarities]

    if not np.isfinite(list(metrics.values())).all():
        logger.warning("%s: a correlation is undefined because the model gives every pair the same similarity.", pairs.source)
    return metrics, curve


def evaluate_sts(
    model: SentenceTransformer,
    pairs: STSPairs,
    batch_size: int = 64,
    show_progress_bar: bool | None = None,
    similarity_functions: Sequence[str] = ("cosine",),
) -> dict[str, float]:
    """Encode both sides of `pairs` with `model.encode` and correlate their similarity with the gold scores."""
    cache = EmbeddingCache(model, batch_size, show_progress_bar)
    register_sts(pairs, cache)
    cache.encode_pending()
    return score_sts(pairs, cache, similarity_functions)[0]
