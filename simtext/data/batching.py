"""Plan an epoch's batches: no text twice in a batch, several datasets sampled in proportion.

In-batch losses treat every other example's texts as negatives, so a text that
occurs twice in one batch becomes a false negative of itself. The plan is a
pure function of (seed, epoch), so a resumed run can rebuild it and skip the
batches it has done.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from datasets import Dataset


@dataclass(frozen=True)
class PlannedBatch:
    """One batch: which training dataset it comes from and the row indices in it."""

    dataset: str
    indices: tuple[int, ...]


def example_texts(dataset: Dataset) -> list[frozenset[str]]:
    """Return the set of texts of each row (every string column but `label`), for duplicate checks."""
    # A string `label` (for example ENTAILMENT) is shared by many rows and is not a text.
    text_columns = [
        name
        for name in dataset.column_names
        if name != "label" and getattr(dataset.features[name], "dtype", None) in ("string", "large_string")
    ]
    columns = [dataset[name] for name in text_columns]
    return [frozenset(values) for values in zip(*columns)]


def no_duplicate_batches(texts: list[frozenset[str]], batch_size: int, rng: random.Random) -> list[tuple[int, ...]]:
    """Shuffle row indices and group them into batches in which no text occurs twice.

    A row whose text is already in the current batch waits for a later batch, so
    every row is used exactly once per epoch. The last batch may be smaller.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = list(range(len(texts)))
    rng.shuffle(order)
    remaining = dict.fromkeys(order)

    batches = []
    while remaining:
        batch: list[int] = []
        seen: set[str] = set()
        for index in remaining:
            if texts[index] & seen:
                continue
            batch.append(index)
            seen |= texts[index]
            if len(batch) == batch_size:
                break
        for index in batch:
            del remaining[index]
        batches.append(tuple(batch))
    return batches


def plan_epoch(datasets: dict[str, list[frozenset[str]]], batch_size: int, seed: int, epoch: int) -> list[PlannedBatch]:
    """Return the batches of one epoch over all training datasets, in a seeded random order.

    Each batch comes from a single dataset (their columns may differ), and the
    datasets' batches are interleaved at random, so each is sampled in proportion
    to its size.
    """
    rng = random.Random(f"{seed}-{epoch}")
    planned = [
        PlannedBatch(name, indices)
        for name in sorted(datasets)
        for indices in no_duplicate_batches(datasets[name], batch_size, rng)
    ]
    rng.shuffle(planned)
    return planned
