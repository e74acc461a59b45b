"""Read user data into canonical columns, and plan batches."""

from __future__ import annotations

import logging
from pathlib import Path

from datasets import Dataset, concatenate_datasets

from simtext.data.batching import PlannedBatch, example_texts, no_duplicate_batches, plan_epoch
from simtext.data.readers import DataError, Table, read_hub_dataset, read_table
from simtext.data.sources import NliTriplets, Source, canonical_kind, describe, load_source

logger = logging.getLogger(__name__)

__all__ = [
    "DataError",
    "NliTriplets",
    "PlannedBatch",
    "Source",
    "Table",
    "canonical_kind",
    "example_texts",
    "load_source",
    "load_training_data",
    "no_duplicate_batches",
    "plan_epoch",
    "read_hub_dataset",
    "read_table",
]


def load_training_data(train: dict[str, list[Source]], data_dir: Path | None) -> dict[str, Dataset]:
    """Load every named training dataset, concatenating its sources, and check their columns agree."""
    datasets = {}
    for name, sources in train.items():
        if not sources:
            raise ValueError(f"data.train.{name}: the dataset has no sources; list at least one")
        parts = [load_source(source, data_dir, f"data.train.{name}[{index}]") for index, source in enumerate(sources)]
        for source, part in zip(sources[1:], parts[1:]):
            if part.column_names != parts[0].column_names:
                raise ValueError(
                    f"data.train.{name}: source {describe(source)} has columns {part.column_names}, but "
                    f"{describe(sources[0])} has {parts[0].column_names}. Sources of one dataset need the "
                    "same canonical columns; put them in separate datasets instead."
                )
        dataset = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
        if len(dataset) == 0:
            raise ValueError(f"data.train.{name}: no rows left after filtering; check the filters")
        logger.info("Training dataset %r: %d rows, columns %s", name, len(dataset), dataset.column_names)
        datasets[name] = dataset
    return datasets
