"""Semantic textual similarity (STS): correlate the cosine similarity of sentence pairs with gold scores.

The figures are those of sentence-transformers' `EmbeddingSimilarityEvaluator` with
cosine similarity: Spearman and Pearson correlation from `scipy.stats`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from scipy.stats import pearsonr, spearmanr
from sentence_transformers import SentenceTransformer

from simtext.data.readers import DataError, read_table
from simtext.evaluation.encoding import encode_texts
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
) -> STSPairs:
    """Read sentence pairs and gold scores from a CSV, TSV, JSON Lines or Parquet file.

    Raises `DataError` naming file, line and column for a missing column, an empty
    sentence or a score that is not a number, and when fewer than two pairs or only
    one distinct score make the correlations undefined.
    """
    table = read_table(path)
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


def evaluate_sts(
    model: SentenceTransformer,
    pairs: STSPairs,
    batch_size: int = 64,
    show_progress_bar: bool | None = None,
) -> dict[str, float]:
    """Encode both sides of `pairs` with `model.encode` and correlate their cosine similarity with the gold scores."""
    embeddings = encode_texts(model.encode, pairs.sentences1 + pairs.sentences2, batch_size, show_progress_bar)
    embeddings = F.normalize(embeddings.float(), dim=-1)  # (2 * pairs, dim)
    first, second = embeddings[: len(pairs)], embeddings[len(pairs) :]  # (pairs, dim) each
    similarities = (first * second).sum(dim=-1)  # (pairs,)

    metrics = sts_metrics(similarities.cpu().numpy(), pairs.scores)
    if not np.isfinite(list(metrics.values())).all():
        logger.warning("%s: the correlations are undefined because the model gives every pair the same similarity.", pairs.source)
    return metrics
