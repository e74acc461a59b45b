"""Objectives on labelled and graded sentence pairs: contrastive (optionally with hard-pair mining) and CoSENT.

Each pair is scored on its own two texts, and other rows of the batch are never
treated as negatives. So, unlike InfoNCE, these objectives let a text occur in
several rows of one batch (`distinct_texts = False`).
"""

from __future__ import annotations

import torch
from datasets import Dataset

from simtext.data import canonical_kind
from simtext.losses import contrastive_loss, cosent_loss, hard_pair_mask, online_contrastive_loss, pair_distances
from simtext.training.recipe import LossConfig

PAIR_COLUMNS = ["sentence1", "sentence2"]


class PairObjective:
    """Shared parts of the pair objectives: both texts of each row are embedded, and no state is kept."""

    distinct_texts = False

    def check_rows(self, dataset_name: str, dataset: Dataset) -> None:
        pass

    def text_columns(self, column_names: list[str]) -> list[str]:
        return list(PAIR_COLUMNS)

    def after_step(self, embeddings: dict[str, torch.Tensor], rows: dict[str, list]) -> None:
        pass

    def log_values(self) -> dict[str, float]:
        """Return figures for the training log, averaged since the last call; none by default."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict, device: torch.device | None = None) -> None:
        pass


class ContrastiveObjective(PairObjective):
    """Pairwise contrastive loss over `sentence1`, `sentence2` and a `label` of 1 (similar) or 0 (dissimilar)."""

    name = "contrastive"

    def __init__(self, config: LossConfig):
        self.margin = config.margin if config.margin is not None else 0.5
        self.distance = config.distance if config.distance is not None else "cosine"

    def check_columns(self, dataset_name: str, column_names: list[str]) -> None:
        """Raise `ValueError` unless the dataset has the pair-label columns sentence1, sentence2, label."""
        fixes = {
            "scored": "For graded scores use loss cosent",
            "pairs": "Anchor-positive pairs have no dissimilar pairs; use loss infonce for them",
        }
        _check_pair_columns(self.name, dataset_name, column_names, "labelled", "label (1 = similar, 0 = dissimilar)", fixes)

    def check_rows(self, dataset_name: str, dataset: Dataset) -> None:
        """Raise `ValueError` when a label is neither 0 nor 1."""
        invalid = sorted({label for label in dataset["label"] if label not in (0, 1)}, key=str)
        if invalid:
            shown = ", ".join(repr(label) for label in invalid[:5])
            raise ValueError(
                f"data.train.{dataset_name}: loss {self.name!r} needs labels 1 (similar) and 0 (dissimilar), "
                f"found {shown}. Map the values with `labels` in the source, for example "
                "labels: {ENTAILMENT: 1, CONTRADICTION: 0}"
            )

    def loss(self, embeddings: dict[str, torch.Tensor], rows: dict[str, list]) -> torch.Tensor:
        labels = torch.tensor(rows["label"], device=embeddings["sentence1"].device)
        return contrastive_loss(
            embeddings["sentence1"], embeddings["sentence2"], labels, margin=self.margin, distance=self.distance
        )


class OnlineContrastiveObjective(ContrastiveObjective):
    """Contrastive loss summed over each batch's hard pairs, logging how many pairs mining kept."""

    name = "online_contrastive"

    def __init__(self, config: LossConfig):
        super().__init__(config)
        self.kept_pairs = 0
        self.pairs = 0
        self.steps = 0

    def loss(self, embeddings: dict[str, torch.Tensor], rows: dict[str, list]) -> torch.Tensor:
        labels = torch.tensor(rows["label"], device=embeddings["sentence1"].device)
        return online_contrastive_loss(
            embeddings["sentence1"], embeddings["sentence2"], labels, margin=self.margin, distance=self.distance
        )

    def after_step(self, embeddings: dict[str, torch.Tensor], rows: dict[str, list]) -> None:
        """Count the pairs that mining kept in this step's batch, from the step's own embeddings."""
        labels = torch.tensor(rows["label"], device=embeddings["sentence1"].device)
        distances = pair_distances(embeddings["sentence1"], embeddings["sentence2"], self.distance)
        self.kept_pairs += int(hard_pair_mask(distances, labels).sum())
        self.pairs += len(labels)
        self.steps += 1

    def log_values(self) -> dict[str, float]:
        """Return the mean number of hard pairs kept per batch and the kept fraction, since the last call."""
        if self.steps == 0:
            return {}
        values = {"kept_pairs": self.kept_pairs / self.steps, "kept_fraction": self.kept_pairs / self.pairs}
        self.kept_pairs = self.pairs = self.steps = 0
        return values


class CoSENTObjective(PairObjective):
    """CoSENT ranking loss over `sentence1`, `sentence2` and a graded `score`."""

    name = "cosent"

    def __init__(self, config: LossConfig):
        self.scale = config.scale

    def check_columns(self, dataset_name: str, column_names: list[str]) -> None:
        """Raise `ValueError` unless the dataset has the graded columns sentence1, sentence2, score."""
        fixes = {
            "labelled": "For 0/1 labels use loss contrastive or online_contrastive, or map the label column "
            "to `score`, which CoSENT reads as a grade",
            "pairs": "Anchor-positive pairs have no grades; use loss infonce for them",
        }
        _check_pair_columns(self.name, dataset_name, column_names, "scored", "score (graded similarity)", fixes)

    def loss(self, embeddings: dict[str, torch.Tensor], rows: dict[str, list]) -> torch.Tensor:
        scores = torch.tensor(rows["score"], dtype=torch.float64, device=embeddings["sentence1"].device)
        return cosent_loss(embeddings["sentence1"], embeddings["sentence2"], scores, scale=self.scale)


def _check_pair_columns(
    loss_name: str, dataset_name: str, column_names: list[str], kind: str, third_column: str, fixes: dict[str, str]
) -> None:
    """Raise `ValueError` unless the dataset is of canonical `kind`, with the fix for the kind it is instead."""
    try:
        found = canonical_kind(column_names)
    except ValueError:
        found = None
    if found == kind:
        return
    fix = fixes.get(found, f"Map the source columns to sentence1, sentence2 and {third_column.split()[0]}")
    raise ValueError(
        f"data.train.{dataset_name}: loss {loss_name!r} needs columns sentence1, sentence2, {third_column}, "
        f"but the dataset has {column_names}. {fix}."
    )
