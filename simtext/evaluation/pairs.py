"""Pair classification (paraphrase detection): how well the cosine similarity of a pair separates label 1 from label 0.

The figures are those of sentence-transformers' `BinaryClassificationEvaluator` with
cosine similarity: average precision from scikit-learn, and the best accuracy and F1
over all thresholds with that evaluator's own threshold search, which is called here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator
from sklearn.metrics import average_precision_score

from simtext.data.readers import DataError, read_table
from simtext.evaluation.encoding import EmbeddingCache
from simtext.evaluation.fields import number_value, require_columns, text_value
from simtext.evaluation.sts import pair_similarities

logger = logging.getLogger(__name__)

PAIR_METRICS = ("ap", "accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision", "recall")


@dataclass
class LabelledPairs:
    """Sentence pairs with a binary label each (1: the pair is a paraphrase), read from `source`."""

    source: str
    sentences1: list[str]
    sentences2: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)


def read_labelled_pairs(
    path: str | Path,
    sentence1_column: str = "sentence1",
    sentence2_column: str = "sentence2",
    label_column: str = "label",
    quoting: bool | None = None,
) -> LabelledPairs:
    """Read sentence pairs and 0/1 labels from a CSV, TSV, JSON Lines or Parquet file.

    Raises `DataError` naming file, line and column for a missing column, an empty
    sentence or a label other than 0 or 1, and when one of the two labels never occurs.
    """
    table = read_table(path, quoting=quoting)
    require_columns(table, [sentence1_column, sentence2_column, label_column])
    pairs = LabelledPairs(table.source, [], [], [])
    for index in range(len(table)):
        pairs.sentences1.append(text_value(table, index, sentence1_column))
        pairs.sentences2.append(text_value(table, index, sentence2_column))
        label = number_value(table, index, label_column)
        if label not in (0, 1):
            raise table.error(index, f"expected label 0 or 1, found {table.rows[index].get(label_column)!r}", label_column)
        pairs.labels.append(int(label))

    if len(set(pairs.labels)) < 2:
        raise DataError(
            table.source,
            f"every label is {pairs.labels[0] if pairs.labels else 'missing'}; pair classification needs pairs of both labels",
            column=label_column,
        )
    return pairs


def pair_classification_metrics(similarities: np.ndarray, labels: list[int]) -> dict[str, float]:
    """Return average precision, best accuracy and best F1 (with their thresholds, precision and recall) of `similarities`.

    A pair is predicted a paraphrase when its similarity is at least the threshold.
    """
    similarities = np.asarray(similarities, dtype=np.float32)
    labels_array = np.asarray(labels)
    accuracy, accuracy_threshold = BinaryClassificationEvaluator.find_best_acc_and_threshold(similarities, labels_array, True)
    f1, precision, recall, f1_threshold = BinaryClassificationEvaluator.find_best_f1_and_threshold(similarities, labels_array, True)
    return {
        "ap": float(average_precision_score(labels_array, similarities)),
        "accuracy": float(accuracy),
        "accuracy_threshold": float(accuracy_threshold),
        "f1": float(f1),
        "f1_threshold": float(f1_threshold),
        "precision": float(precision),
        "recall": float(recall),
    }


def register_pairs(pairs: LabelledPairs, cache: EmbeddingCache) -> None:
    """Register both sides of `pairs` for encoding with `model.encode`."""
    cache.add("text", pairs.sentences1 + pairs.sentences2)


def score_pairs(pairs: LabelledPairs, cache: EmbeddingCache) -> tuple[dict[str, float], dict]:
    """Score the cosine similarity of every pair against its label; see `pair_classification_metrics`."""
    first = cache.get("text", pairs.sentences1)  # (pairs, dim)
    second = cache.get("text", pairs.sentences2)  # (pairs, dim)
    similarities = pair_similarities(first, second, "cosine").cpu().numpy()
    return pair_classification_metrics(similarities, pairs.labels), {}


def evaluate_pairs(
    model: SentenceTransformer, pairs: LabelledPairs, batch_size: int = 64, show_progress_bar: bool | None = None
) -> dict[str, float]:
    """Encode both sides of `pairs` with `model.encode` and score their cosine similarity against the labels."""
    cache = EmbeddingCache(model, batch_size, show_progress_bar)
    register_pairs(pairs, cache)
    cache.encode_pending()
    return score_pairs(pairs, cache)[0]
